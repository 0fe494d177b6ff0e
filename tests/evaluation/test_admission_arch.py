"""The tensors admission expects match what transformers really saves, for every supported variant."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from flock_subnet.evaluation.admission import check_model_dir
from flock_subnet.evaluation.admission_arch import ConfigError, expected_tensors, model_shape
from flock_subnet.evaluation.safetensors_header import read_header
from flock_subnet.models.params import parameter_count
from flock_subnet.rules.competitions import LOCAL, QWEN_05B

SIZES = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4)


def _save(out: Path, architecture: str, dtype: str = "float32", **overrides) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_cls, model_cls = {
        "LlamaForCausalLM": (LlamaConfig, LlamaForCausalLM),
        "Qwen2ForCausalLM": (Qwen2Config, Qwen2ForCausalLM),
    }[architecture]
    torch.manual_seed(0)
    model = model_cls(config_cls(**{**SIZES, **overrides}))
    model.to(getattr(torch, dtype)).save_pretrained(out)
    return out


VARIANTS = [
    ("LlamaForCausalLM", {}),
    ("LlamaForCausalLM", {"tie_word_embeddings": True, "num_key_value_heads": 2}),
    ("LlamaForCausalLM", {"attention_bias": True, "mlp_bias": True, "head_dim": 16}),
    ("Qwen2ForCausalLM", {"num_key_value_heads": 4}),
    ("Qwen2ForCausalLM", {"tie_word_embeddings": True, "num_key_value_heads": 1}),
]


@pytest.mark.parametrize("architecture,overrides", VARIANTS)
def test_expected_tensors_match_what_transformers_saves(tmp_path, architecture, overrides):
    import json

    folder = _save(tmp_path / "m", architecture, **overrides)
    config = json.loads((folder / "config.json").read_text())
    shape = model_shape(config, architecture)
    header = read_header(folder / "model.safetensors")
    expected = expected_tensors(shape)
    assert {t.name: t.shape for t in header.tensors} == expected
    assert parameter_count(shape) == header.parameters == sum(math.prod(dims) for dims in expected.values())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_qwen2_checkpoints_in_half_precision_are_admitted_by_a_qwen2_competition(tmp_path, dtype):
    folder = _save(tmp_path / "m", "Qwen2ForCausalLM", dtype=dtype, tie_word_embeddings=True, num_key_value_heads=2)
    reference = {"config.json": (folder / "config.json").read_bytes()}
    qwen = replace(QWEN_05B, max_parameters=100_000)
    report = check_model_dir(folder, qwen, "5F", reference_files=reference)
    assert report.ok, report.reasons
    # the same file is the wrong architecture for the Llama competition
    refused = check_model_dir(folder, LOCAL, "5F", reference_files=reference)
    assert any("admits only LlamaForCausalLM" in r for r in refused.reasons)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_hidden_layers": 10**6}, "num_hidden_layers"),
        ({"num_attention_heads": 3, "num_key_value_heads": 1}, "head_dim"),  # 32 is not a multiple of 3 and no head_dim is given
        ({"num_key_value_heads": 3}, "multiple"),
        ({"vocab_size": "4096"}, "vocab_size"),
        ({"tie_word_embeddings": "yes"}, "tie_word_embeddings"),
    ],
)
def test_unusable_configs_are_named(changes, message):
    config = {**SIZES, "num_key_value_heads": 4, **changes}
    with pytest.raises(ConfigError, match=message):
        model_shape(config, "LlamaForCausalLM")
    with pytest.raises(ConfigError, match="not supported"):
        model_shape(SIZES, "MistralForCausalLM")
