"""The arithmetic behind min_compute.yml, and the file agreeing with it."""

from __future__ import annotations

import yaml

from flock_subnet.models.params import forward_flops_per_token, lora_parameter_count, model_shape, parameter_count
from flock_subnet.ops.compute_budget import (
    GIB,
    QWEN25_05B,
    ROUND_ANSWER_TOKENS,
    eval_logit_bytes,
    state_bytes,
)
from flock_subnet.rules.competitions import get_competition
from tests.ops.helpers import ROOT


def test_parameter_counts_match_transformers():
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    small = {**QWEN25_05B, "num_hidden_layers": 2}  # same layer shapes, quicker to build
    config = AutoConfig.for_model(**{k: v for k, v in small.items() if k != "architectures"})
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    shape = model_shape(small)
    assert sum(p.numel() for p in model.parameters()) == parameter_count(shape)
    # LoRA "all-linear": every linear layer of the decoder (not the output head), r x (in + out) each
    linears = [m for m in model.model.modules() if isinstance(m, torch.nn.Linear)]
    assert sum(16 * (m.in_features + m.out_features) for m in linears) == lora_parameter_count(shape, 16)
    # the published size of Qwen2.5-0.5B, and what peft reports for r=16 all-linear on it
    qwen = model_shape(QWEN25_05B)
    assert parameter_count(qwen) == 494_032_768
    assert lora_parameter_count(qwen, 16) == 8_798_208


def test_min_compute_states_the_decoder_work_of_a_round():
    # min_compute.yml: "One round costs about 2 x 358M x 19.5k = 14 TFLOP of decoder work per model"
    decoder = forward_flops_per_token(model_shape(QWEN25_05B), with_head=False)
    assert round(decoder / 2 / 1e6) == 358
    assert round(decoder * 19_518 / 1e12) == 14
    assert "2 x 358M x 19.5k = 14 TFLOP" in (ROOT / "min_compute.yml").read_text()


def test_min_compute_states_the_arithmetic():
    spec = yaml.safe_load((ROOT / "min_compute.yml").read_text())
    qwen = spec["competitions"]["qwen05b"]
    states = state_bytes(QWEN25_05B)
    assert qwen["parameters"] == states.parameters
    assert get_competition("qwen05b").max_parameters >= states.parameters
    arithmetic = qwen["arithmetic_gib"]
    assert arithmetic["bf16_weights"] == round(states.eval_weights_bf16 / GIB, 2)
    assert arithmetic["full_finetune_states"] == round(states.full_finetune_states / GIB, 2)
    assert arithmetic["lora_r16_states"] == round(states.lora_states / GIB, 2)
    assert arithmetic["one_round_answer_logits"] == round(eval_logit_bytes(ROUND_ANSWER_TOKENS, 151_936) / GIB, 2)
    # the recommendations cover what was measured
    measured = qwen["measured_peak_gib"]
    assert qwen["validator"]["gpu"]["vram_gib"]["minimum"] > measured["eval_one_round"]
    assert qwen["validator"]["gpu"]["vram_gib"]["recommended"] > measured["eval_full_batch"]
    assert qwen["miner"]["gpu"]["full_finetune_vram_gib"]["minimum"] > measured["full_finetune"]
    assert qwen["miner"]["gpu"]["lora_vram_gib"]["minimum"] > measured["lora_r16"]
    assert set(spec["competitions"]) == {"local", "qwen05b"}
