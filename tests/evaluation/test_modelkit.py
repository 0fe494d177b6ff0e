"""The tiny-model kit: deterministic tokenizer and checkpoints, the base-model cache, `model tiny`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from flock_subnet.models.checkpoint import content_hash
from flock_subnet.models.params import (
    ConfigError,
    forward_flops_per_token,
    lora_parameter_count,
    model_shape,
    parameter_breakdown,
    parameter_count,
)
from flock_subnet.models.tiny import (
    IM_END,
    IM_START,
    SPECIAL_TOKENS,
    TINY_PRESETS,
    VOCAB_SIZE,
    ModelKitError,
    base_model_dir,
    build_tiny_model,
    count_parameters,
    reference_tokenizer_files,
)
from flock_subnet.rules.competitions import LOCAL, QWEN_05B


def _cli(*args: str, cwd=None) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, "-m", "flock_subnet.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )


def test_tokenizer_has_the_chat_specials_and_template(tiny_tokenizer):
    assert len(tiny_tokenizer) == VOCAB_SIZE
    assert [tiny_tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert tiny_tokenizer.eos_token == IM_END and tiny_tokenizer.pad_token == "<|pad|>"
    text = tiny_tokenizer.apply_chat_template(
        [{"role": "user", "content": "Sort the digits: 3 1 2"}], tokenize=False, add_generation_prompt=True
    )
    assert text == f"{IM_START}user\nSort the digits: 3 1 2{IM_END}\n{IM_START}assistant\n"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == 2 and ids.count(3) == 1
    assert tiny_tokenizer.decode(ids) == text


def test_tiny_model_is_byte_identical_across_processes(tmp_path, tiny_model_dir):
    first = _cli("model", "tiny", str(tmp_path / "a"), "--preset", "micro", "--json")
    second = _cli("model", "tiny", str(tmp_path / "b"), "--preset", "micro", "--seed", "0", "--json")
    infos = []
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        infos.append(json.loads(out))
    assert infos[0]["content_hash"] == infos[1]["content_hash"] == content_hash(tiny_model_dir)
    assert infos[0]["parameters"] == count_parameters("micro") == 1_049_216
    assert "model.safetensors" in infos[0]["files"] and "tokenizer.json" in infos[0]["files"]
    for name in infos[0]["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_other_seed_gives_other_weights_same_tokenizer(tmp_path, tiny_model_dir):
    other = build_tiny_model(tmp_path / "other", preset="micro", seed=1)
    assert content_hash(other) != content_hash(tiny_model_dir)
    assert (other / "tokenizer.json").read_bytes() == (tiny_model_dir / "tokenizer.json").read_bytes()


def test_tiny_model_loads_offline_with_the_expected_shape(tiny_model_dir):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_dir, local_files_only=True)
    assert config.architectures == ["LlamaForCausalLM"]
    assert config.vocab_size == VOCAB_SIZE and config.max_position_embeddings == 256


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ModelKitError, match="micro"):
        build_tiny_model(tmp_path, preset="huge")


def test_local_base_is_the_small_preset_and_cached(local_base_dir, model_cache_dir):
    assert count_parameters("small") == 5_245_184 <= LOCAL.max_parameters
    before = content_hash(local_base_dir)
    again = base_model_dir(LOCAL, model_cache_dir)
    assert again == local_base_dir and content_hash(again) == before
    files = reference_tokenizer_files(LOCAL, model_cache_dir)
    assert set(files) >= {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}
    assert files["tokenizer.json"] == (local_base_dir / "tokenizer.json").read_bytes()


def test_hub_base_without_a_hub_says_what_to_do(tmp_path):
    with pytest.raises(ModelKitError, match="pass a hub"):
        base_model_dir(QWEN_05B, tmp_path)


def test_hub_base_is_downloaded_at_the_pinned_revision(tmp_path, tiny_model_dir, local_hub):
    client = local_hub.client("alice")
    revision = client.upload(tiny_model_dir, "alice/base", private=False)
    base = replace(QWEN_05B.base, repo_id="alice/base", revision=revision, tiny=None)
    competition = replace(QWEN_05B, id="hubbase", base=base)
    folder = base_model_dir(competition, tmp_path / "cache", hub=client)
    assert folder == tmp_path / "cache" / "hub" / "alice--base" / revision
    assert content_hash(folder) == content_hash(tiny_model_dir)
    assert base_model_dir(competition, tmp_path / "cache") == folder  # cached: no hub needed any more
    files = reference_tokenizer_files(competition, tmp_path / "cache")
    assert files["tokenizer.json"] == (tiny_model_dir / "tokenizer.json").read_bytes()
    assert not list((tmp_path / "cache" / "hub" / "alice--base").glob(".*"))  # no half-built folders left


# --- models.params: the one parameter count, checked against what transformers builds -------


def _built_parameters(config) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("preset", sorted(TINY_PRESETS))
def test_params_count_the_tiny_presets_as_transformers_builds_them(preset):
    built = _built_parameters(TINY_PRESETS[preset].llama_config())
    assert parameter_count(TINY_PRESETS[preset].shape()) == count_parameters(preset) == built


QWEN2_SIZES = dict(vocab_size=320, hidden_size=64, intermediate_size=176, num_hidden_layers=3, num_attention_heads=8)


@pytest.mark.parametrize(
    "overrides",
    [{"num_key_value_heads": 2}, {"num_key_value_heads": 8, "tie_word_embeddings": True}, {"num_key_value_heads": 1}],
)
def test_params_count_a_qwen2_config_as_transformers_builds_it(overrides):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(**QWEN2_SIZES, **overrides)
    shape = model_shape({**config.to_dict(), "architectures": ["Qwen2ForCausalLM"]})
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert parameter_count(shape) == sum(p.numel() for p in model.parameters())
    parts = parameter_breakdown(shape)
    assert parts.attention == sum(p.numel() for n, p in model.named_parameters() if ".self_attn." in n)
    assert parts.mlp == sum(p.numel() for n, p in model.named_parameters() if ".mlp." in n)
    assert parts.norms == sum(p.numel() for n, p in model.named_parameters() if "norm" in n)
    linears = [m for m in model.model.modules() if isinstance(m, torch.nn.Linear)]
    assert lora_parameter_count(shape, 8) == sum(8 * (m.in_features + m.out_features) for m in linears)
    assert lora_parameter_count(shape, 8, ["q_proj", "v_proj"]) == 3 * 8 * ((64 + 64) + (64 + shape.kv_out))
    with pytest.raises(ValueError, match="qkv"):
        lora_parameter_count(shape, 8, ["qkv"])


def test_forward_flops_count_every_matrix_product():
    shape = TINY_PRESETS["micro"].shape()  # hidden 128, MLP 512, 2 layers, 4 heads of 32, vocab 4096
    per_layer_weights = 4 * 128 * 128 + 3 * 128 * 512
    assert forward_flops_per_token(shape, with_head=False) == 2 * 2 * per_layer_weights
    assert forward_flops_per_token(shape, context=100, with_head=False) == 2 * (2 * per_layer_weights + 4 * 128 * 100)
    assert forward_flops_per_token(shape) == 2 * 2 * per_layer_weights + 2 * 4096 * 128


def test_model_shape_needs_a_named_architecture():
    with pytest.raises(ConfigError, match="architectures"):
        model_shape(dict(QWEN2_SIZES))
