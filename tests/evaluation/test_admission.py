"""Admission of local checkpoint folders: a good fine-tune is admitted, hostile ones are refused.

Every hostile folder is derived from the kit's tiny model by one change. Markers prove that
nothing in a folder is executed: the pickle and the Python module would each create a file if
anything loaded them.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from flock_subnet.evaluation.admission import (
    AdmissionError,
    AdmissionReport,
    check_model_dir,
    load_reference_files,
)
from flock_subnet.models import checkpoint
from flock_subnet.rules.competitions import LOCAL
from tests.evaluation.adversarial.builders import (
    copy_model,
    edit_config,
    load_weights,
    marker_module,
    marker_pickle,
    raw_safetensors,
    save_weights,
)

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
OTHER_HOTKEY = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"


@pytest.fixture(scope="session")
def reference_files(model_cache_dir) -> dict[str, bytes]:
    return load_reference_files(LOCAL, model_cache_dir)


@pytest.fixture
def model(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the good tiny model, to be spoiled by one test."""
    return copy_model(tiny_model_dir, tmp_path / "model")


def _check(folder, reference_files, competition=LOCAL, salted=None, hotkey=HOTKEY) -> AdmissionReport:
    return check_model_dir(folder, competition, hotkey, salted, reference_files=reference_files)


def _refused(report: AdmissionReport, *fragments: str) -> None:
    assert not report.ok, report
    text = "\n".join(report.reasons)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in reasons:\n{text}"


# --- the good model ---------------------------------------------------------------------------


def test_good_tiny_model_is_admitted_with_its_hashes(tiny_model_dir, reference_files):
    expected_hash = checkpoint.content_hash(tiny_model_dir)
    salted = checkpoint.salted_hash(expected_hash, HOTKEY)
    report = _check(tiny_model_dir, reference_files, salted=salted)
    assert report.ok, report.reasons
    assert report.reasons == []
    assert report.content_hash == expected_hash
    assert report.parameters == 1_049_216
    assert report.to_dict() == {"ok": True, "reasons": [], "content_hash": expected_hash, "parameters": 1_049_216}


def test_fine_tune_of_the_base_is_admitted_and_hub_extras_are_ignored(local_base_dir, reference_files, tmp_path):
    tuned = copy_model(local_base_dir, tmp_path / "tuned")
    weights = load_weights(tuned)
    rng = np.random.default_rng(0)
    for name in ("model.layers.0.mlp.up_proj.weight", "model.embed_tokens.weight"):
        weights[name] = weights[name] + rng.normal(0, 1e-3, weights[name].shape).astype(np.float32)
    save_weights(tuned, weights)
    (tuned / "README.md").write_text("# my model\n")
    (tuned / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    report = _check(tuned, reference_files)
    assert report.ok, report.reasons
    assert report.content_hash == checkpoint.content_hash(tuned) != checkpoint.content_hash(local_base_dir)


def test_model_without_tokenizer_files_uses_the_base_tokenizer(model, reference_files):
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (model / name).unlink()
    assert _check(model, reference_files).ok


def test_sharded_weights_with_an_index_are_admitted(model, reference_files):
    weights = load_weights(model)
    names = sorted(weights)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for shard, members in shards.items():
        save_weights(model, {n: weights[n] for n in members}, shard)
    (model / "model.safetensors").unlink()
    weight_map = {n: shard for shard, members in shards.items() for n in members}
    (model / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert _check(model, reference_files).ok

    del weight_map[names[0]]
    weight_map["model.extra.weight"] = "model-00003-of-00002.safetensors"
    (model / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    _refused(_check(model, reference_files), "not in the folder", "does not match the shards")


# --- files that would run code ------------------------------------------------------------------


def test_pickle_weights_are_refused_and_never_unpickled(model, reference_files, tmp_path):
    marker = tmp_path / "pickle-ran"
    payload = marker_pickle(marker)
    # the payload is live: unpickling it elsewhere does create the marker
    probe = tmp_path / "probe-ran"
    pickle.loads(marker_pickle(probe)).close()
    assert probe.exists()

    (model / "pytorch_model.bin").write_bytes(payload)
    (model / "training_args.pt").write_bytes(payload)
    (model / "model.safetensors").unlink()
    report = _check(model, reference_files)
    _refused(report, "pytorch_model.bin is not allowed: pickled", "training_args.pt is not allowed", "no .safetensors")
    assert not marker.exists()


def test_python_file_with_auto_map_is_refused_and_never_imported(model, reference_files, tmp_path):
    marker = tmp_path / "module-imported"
    (model / "modeling_evil.py").write_text(marker_module(marker))
    (model / "__init__.py").write_text(marker_module(marker))
    edit_config(model, auto_map={"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"})
    tokenizer_config = json.loads((model / "tokenizer_config.json").read_text())
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["modeling_evil.EvilTokenizer", None]}
    (model / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    report = _check(model, reference_files)
    _refused(
        report,
        "modeling_evil.py is not allowed: code files are never run",
        "__init__.py is not allowed",
        "config.json declares custom model code (auto_map)",
        "tokenizer_config.json declares custom model code",
    )
    assert not marker.exists()


def test_config_pointing_to_remote_code_is_refused(model, reference_files):
    edit_config(
        model,
        custom_pipelines={"text-generation": {"impl": "evil/pipes--pipeline.Evil"}},
        trust_remote_code=True,
        quantization_config={"quant_method": "bitsandbytes"},
        some_class="evil/models--modeling.EvilModel",
    )
    _refused(
        _check(model, reference_files),
        "custom pipeline code",
        "remote code (trust_remote_code)",
        "quantised checkpoint",
        "refers to code in another repository",
    )


# --- lying or oversized weights -----------------------------------------------------------------


def test_header_claiming_terabytes_is_refused(model, reference_files):
    header = {"model.embed_tokens.weight": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 4 << 40]}}
    (model / "model.safetensors").write_bytes(raw_safetensors(header, b"\0" * 64))
    report = _check(model, reference_files)
    _refused(report, "past the 64 bytes of data")
    assert report.parameters is None


def test_header_length_claiming_more_than_the_limit_is_refused(model, reference_files):
    (model / "model.safetensors").write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    _refused(_check(model, reference_files), "header claims 1099511627776 bytes")


def test_lying_offsets_past_the_end_are_refused(model, reference_files):
    path = model / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1024])  # header still describes the full data
    _refused(_check(model, reference_files), "past the")


def test_oversized_files_are_refused_without_reading_them(model, reference_files):
    small_budget = replace(LOCAL, max_bytes=1_000_000)
    report = _check(model, reference_files, competition=small_budget)
    _refused(report, "more than competition 'local' allows (1000000)")
    assert report.content_hash is None  # not hashed: the bytes were never read
    assert report.parameters == 1_049_216  # headers alone were still checked


def test_too_many_parameters_are_refused(model, reference_files):
    report = _check(model, reference_files, competition=replace(LOCAL, max_parameters=1_000_000))
    _refused(report, "weights hold 1049216 parameters, more than competition 'local' allows (1000000)")


def test_config_implying_too_many_parameters_is_refused(model, reference_files):
    edit_config(model, num_hidden_layers=1000, intermediate_size=1 << 20)
    (model / "model.safetensors").write_bytes(b"\0\0")  # unreadable weights: the config alone decides
    _refused(_check(model, reference_files), "config.json implies", "too short")


def test_missing_extra_and_misshaped_tensors_are_refused(model, reference_files):
    weights = load_weights(model)
    del weights["model.layers.1.mlp.down_proj.weight"]
    weights["model.layers.0.self_attn.q_proj.weight"] = weights["model.layers.0.self_attn.q_proj.weight"][:64]
    weights["model.backdoor.weight"] = np.zeros((4, 4), dtype=np.float32)
    save_weights(model, weights)
    _refused(
        _check(model, reference_files),
        "lack 1 tensor(s) the config requires: model.layers.1.mlp.down_proj.weight",
        "1 tensor(s) the config does not define: model.backdoor.weight",
        "model.layers.0.self_attn.q_proj.weight is [64, 128], config implies [128, 128]",
    )


def test_untied_head_with_a_tied_config_is_refused(model, reference_files):
    weights = load_weights(model)
    weights["lm_head.weight"] = weights["model.embed_tokens.weight"].copy()
    save_weights(model, weights)
    _refused(_check(model, reference_files), "does not define: lm_head.weight")
    edit_config(model, tie_word_embeddings=False)
    assert _check(model, reference_files).ok


def test_nan_weights_are_refused(model, reference_files):
    weights = load_weights(model)
    weights["model.layers.1.mlp.up_proj.weight"][3, 7] = np.nan
    weights["model.norm.weight"][0] = np.inf
    save_weights(model, weights)
    _refused(
        _check(model, reference_files),
        "2 tensor(s) hold NaN or infinite values: model.layers.1.mlp.up_proj.weight, model.norm.weight",
    )


def test_disallowed_dtypes_are_refused(model, reference_files):
    weights = load_weights(model)
    weights["model.norm.weight"] = weights["model.norm.weight"].astype(np.float64)
    save_weights(model, weights)
    _refused(_check(model, reference_files), "dtype(s) float64")


# --- identity: architecture, tokenizer, hash ----------------------------------------------------


def test_wrong_architecture_is_refused(model, reference_files):
    edit_config(model, architectures=["Qwen2ForCausalLM"], model_type="qwen2")
    _refused(
        _check(model, reference_files),
        "names architecture 'Qwen2ForCausalLM'; competition 'local' admits only LlamaForCausalLM",
        "is not the base model's 'llama'",
    )
    edit_config(model, architectures=["LlamaForCausalLM"], model_type="mistral")
    _refused(_check(model, reference_files), "LlamaForCausalLM requires 'llama'")
    edit_config(model, architectures=None, model_type="llama")
    _refused(_check(model, reference_files), "must list exactly one class")


def test_vocab_size_must_be_the_base_models(model, reference_files):
    edit_config(model, vocab_size=4097)
    _refused(
        _check(model, reference_files),
        "vocab_size is 4097, the base model's is 4096",
        "model.embed_tokens.weight is [4096, 128], config implies [4097, 128]",
    )


def test_tokenizer_that_differs_from_the_base_is_refused(model, reference_files):
    path = model / "tokenizer.json"
    path.write_text(path.read_text().replace('"<|pad|>"', '"<|PAD|>"', 1))
    (model / "vocab.json").write_text("{}")
    (model / "chat_template.jinja").unlink()
    _refused(
        _check(model, reference_files),
        "tokenizer.json differ from the base model's",
        "vocab.json is not part of the base model's tokenizer",
        "missing the base model's chat_template.jinja",
    )


def test_mismatched_salted_hash_is_refused(model, reference_files):
    content = checkpoint.content_hash(model)
    report = _check(model, reference_files, salted=checkpoint.salted_hash(content, OTHER_HOTKEY))
    _refused(report, "salted hash does not match")
    assert report.content_hash == content
    assert _check(model, reference_files, salted=checkpoint.salted_hash(content, HOTKEY)).ok


# --- the folder itself --------------------------------------------------------------------------


def test_symlinks_leaving_the_folder_are_refused_and_not_followed(model, reference_files, tmp_path):
    outside = tmp_path / "outside-secret.json"
    outside.write_text('{"secret": true}')
    (model / "tokenizer.json").unlink()
    os.symlink(outside, model / "tokenizer.json")
    os.symlink("../outside-secret.json", model / "special_tokens_map.json")
    report = _check(model, reference_files)
    _refused(
        report,
        "tokenizer.json is a symbolic link",
        "special_tokens_map.json is a symbolic link",
    )


def test_subfolders_and_special_files_are_refused(model, reference_files):
    (model / "sub").mkdir()
    (model / "sub" / "model.safetensors").write_bytes(b"")
    os.mkfifo(model / "merges.txt")  # reading it would block forever
    _refused(_check(model, reference_files), "sub/ is a sub-folder", "merges.txt is not a regular file")


def test_every_reason_is_collected(model, reference_files, tmp_path):
    (model / "pytorch_model.bin").write_bytes(marker_pickle(tmp_path / "never"))
    edit_config(model, auto_map={"AutoModel": "x.Y"}, vocab_size=5000)
    weights = load_weights(model)
    weights["model.norm.weight"][0] = np.nan
    save_weights(model, weights)
    report = _check(model, reference_files, salted="0" * 64)
    assert len(report.reasons) >= 5, report.reasons
    _refused(report, "pytorch_model.bin", "auto_map", "vocab_size", "NaN", "salted hash")


def test_missing_or_broken_config_is_refused(model, reference_files, tmp_path):
    (model / "config.json").write_text("{broken")
    _refused(_check(model, reference_files), "config.json is not valid UTF-8 JSON")
    (model / "config.json").write_bytes(b" " * (2 * 1024 * 1024))
    _refused(_check(model, reference_files), "config.json has 2097152 bytes")
    (model / "config.json").unlink()
    _refused(_check(model, reference_files), "config.json is missing")
    report = _check(tmp_path / "nowhere", reference_files)
    _refused(report, "is not a folder")


def test_reference_files_must_carry_the_base_config(model, reference_files):
    tokenizer_only = {k: v for k, v in reference_files.items() if k != "config.json"}
    with pytest.raises(AdmissionError, match="load_reference_files"):
        _check(model, tokenizer_only)


def test_reference_files_come_from_the_competitions_base(reference_files, local_base_dir):
    assert set(reference_files) == {"config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}
    assert reference_files["tokenizer.json"] == (local_base_dir / "tokenizer.json").read_bytes()


def test_reference_files_without_a_cache_dir_are_built_once_per_process(reference_files):
    first = load_reference_files(LOCAL)
    assert first == reference_files  # the kit builds the same base in a temporary folder
    first["tokenizer.json"] = b"tampered"
    assert load_reference_files(LOCAL) == reference_files  # remembered, and callers get their own copy
