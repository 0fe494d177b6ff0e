"""Admission knows what evaluation will cost: config keys, activations, tied dimensions and the
memory/FLOPs budget of one round, computed by the one function `min_compute.yml` quotes; and the
`check-model` / `eval` commands attribute a miner's config text to the miner."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flock_subnet.evaluation.admission_forward import forward_problems, rope_settings
from flock_subnet.models.costs import (
    competition_budget,
    competition_cost,
    cost_problems,
    eval_cost,
    round_load,
)
from flock_subnet.models.params import (
    LLAMA,
    QWEN2,
    model_shape,
    parameter_count,
    shape_problems,
)
from flock_subnet.ops.compute_budget import QWEN25_05B, admission_costs
from flock_subnet.rules.competitions import LOCAL, QWEN_05B

ROOT = Path(__file__).resolve().parents[2]
HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
LLAMA_BASE = {
    "architectures": [LLAMA], "model_type": "llama", "vocab_size": 4096, "hidden_size": 256,
    "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 4,
    "head_dim": 64, "hidden_act": "silu", "tie_word_embeddings": True, "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}, "dtype": "float32",
}


def _with(**changes: object) -> dict:
    return {**LLAMA_BASE, **changes}


def test_more_heads_cost_memory_the_parameter_count_does_not_see():
    base, many = model_shape(LLAMA_BASE), model_shape(_with(num_attention_heads=128, num_key_value_heads=128, head_dim=2))
    assert parameter_count(base) == parameter_count(many)
    load = round_load(96, 256, 4096)
    assert eval_cost(many, load).activation_bytes > 2 * eval_cost(base, load).activation_bytes
    tight = dataclasses.replace(LOCAL, max_parameters=parameter_count(base))
    budget = competition_budget(LLAMA_BASE, tight)
    assert cost_problems(competition_cost(LLAMA_BASE, tight), budget) == []
    [reason] = cost_problems(competition_cost(_with(num_attention_heads=128, num_key_value_heads=128, head_dim=2), tight), budget)
    assert "activations" in reason and "keep the base model's dimensions" in reason


def test_cost_grows_with_every_dimension_that_drives_a_forward_pass():
    load = round_load(8, 128, 1024)
    base = eval_cost(model_shape(LLAMA_BASE), load)
    for change in ({"num_hidden_layers": 8}, {"intermediate_size": 2048}, {"hidden_size": 512, "head_dim": 128}):
        bigger = eval_cost(model_shape(_with(**change)), load)
        assert bigger.flops > base.flops and bigger.activation_bytes > base.activation_bytes, change
    assert eval_cost(model_shape(LLAMA_BASE), round_load(8, 256, 2048)).flops > base.flops  # longer sequences


def test_tied_dimensions():
    assert shape_problems(model_shape(LLAMA_BASE)) == []
    assert any("must equal hidden_size" in p for p in shape_problems(model_shape(_with(head_dim=32))))
    assert any("even" in p for p in shape_problems(model_shape(_with(num_attention_heads=256, num_key_value_heads=256, head_dim=1))))


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"hidden_act": "out of memory"}, "hidden_act"),
        ({"hidden_act": "gelu_fast_but_unknown"}, "hidden_act"),
        ({"rope_parameters": {"rope_theta": 10000.0, "rope_type": "yarn", "factor": 64.0}}, "rotary"),
        ({"layer_types": ["sliding_attention"] * 4}, "sliding-window"),
        ({"pretraining_tp": 4}, "pretraining_tp"),
        ({"rms_norm_eps": float("inf")}, "rms_norm_eps"),
        ({"_attn_implementation": "eager"}, "_attn_implementation"),
        ({"final_logit_softcapping": 30.0}, "final_logit_softcapping"),
        ({"dtype": "float64"}, "dtype"),
    ],
)
def test_forward_changing_config_values_are_refused_with_a_reason(changes, needle):
    problems = forward_problems(_with(**changes), LLAMA, LOCAL, LLAMA_BASE)
    assert problems and any(needle in p for p in problems), problems


def test_the_base_config_and_what_transformers_saves_for_it_are_admitted():
    assert forward_problems(LLAMA_BASE, LLAMA, LOCAL, LLAMA_BASE) == []
    saved = {**QWEN25_05B, "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
             "layer_types": ["full_attention"] * 24, "dtype": "bfloat16", "use_sliding_window": False,
             "sliding_window": None, "max_window_layers": 21}
    hub_style = {**QWEN25_05B, "rope_scaling": None, "torch_dtype": "bfloat16", "use_sliding_window": False,
                 "sliding_window": 32768, "max_window_layers": 21}
    assert rope_settings(saved) == rope_settings(hub_style)
    assert forward_problems(saved, QWEN2, QWEN_05B, hub_style) == []


def test_min_compute_quotes_the_admission_function():
    quoted = yaml.safe_load((ROOT / "min_compute.yml").read_text())["competitions"]["qwen05b"]["admission"]
    computed = admission_costs()
    assert quoted["base_round_bound"] == computed["base_round_bound"]
    assert quoted["base_round_typical"] == computed["base_round_typical_answers"]
    assert quoted["budget"] == computed["admission_budget"]


def _cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FLOCK_CACHE_DIR=str(cache_dir), HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "flock_subnet.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _edited(src: Path, dest: Path, drop: tuple[str, ...] = (), **changes: object) -> Path:
    shutil.copytree(src, dest)
    for name in drop:
        (dest / name).unlink(missing_ok=True)
    config = json.loads((dest / "config.json").read_text())
    config.update(changes)
    (dest / "config.json").write_text(json.dumps(config))
    return dest


def test_config_text_that_reads_like_a_resource_failure_is_the_miners(tiny_model_dir, model_cache_dir, tmp_path):
    model = _edited(tiny_model_dir, tmp_path / "oom", hidden_act="CUDA error: out of memory")
    checked = _cli("check-model", str(model), "--competition", "local", "--hotkey", HOTKEY, "--json", cache_dir=model_cache_dir)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert not report["ok"] and any("hidden_act" in r for r in report["reasons"])
    evaluated = _cli("eval", str(model), "--samples", "2", "--device", "cpu", "--json", cache_dir=model_cache_dir)
    assert evaluated.returncode == 1
    assert json.loads(evaluated.stdout)["fault"] == "miner"


def test_a_checkpoint_without_the_tokenizer_a_hub_base_needs_is_the_miners(tiny_model_dir, model_cache_dir, tmp_path):
    bare = _edited(tiny_model_dir, tmp_path / "bare", drop=("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"))
    evaluated = _cli("eval", str(bare), "--competition", "qwen05b", "--samples", "2", "--device", "cpu", "--json",
                     cache_dir=model_cache_dir)
    assert evaluated.returncode == 1, evaluated.stderr
    answer = json.loads(evaluated.stdout)
    assert answer["fault"] == "miner" and "tokenizer" in answer["error"]
