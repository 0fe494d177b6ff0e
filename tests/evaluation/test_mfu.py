"""MFU: the model FLOPs of scoring agree with torch's own FLOP counter; peaks by GPU name; n/a on CPU."""

from __future__ import annotations

import json

import pytest

from flock_subnet.evaluation.mfu import mfu_line, peak_bf16_flops, scoring_flops
from flock_subnet.models.params import model_shape


def test_peaks_are_looked_up_by_the_name_the_driver_reports():
    assert peak_bf16_flops("NVIDIA H200") == 989e12
    assert peak_bf16_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_bf16_flops("NVIDIA H100 PCIe") == 756e12  # the more specific name wins
    assert peak_bf16_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_bf16_flops("NVIDIA L40S") == 362e12 and peak_bf16_flops("NVIDIA L4") == 121e12
    assert peak_bf16_flops("Some Future Accelerator") is None


def test_scoring_flops_match_torchs_flop_counter(tiny_model_dir):
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForCausalLM

    config = json.loads((tiny_model_dir / "config.json").read_text())
    shape = model_shape(config)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager").eval()
    length = 48
    ids = torch.randint(0, shape.vocab_size, (1, length))
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(input_ids=ids)
    counted = counter.get_total_flops()  # every matrix product, the full (unmasked) attention included
    ours = scoring_flops(shape, [(length, length)])  # the output layer on every position, as this forward ran
    masked_half = 2 * shape.num_layers * shape.q_out * length * (length + 1)  # attention torch counts past the mask
    assert ours == pytest.approx(counted - masked_half, rel=0.02)
    assert scoring_flops(shape, [(length, 1)]) < ours  # the evaluator's head runs on scored tokens only


def test_the_line_says_n_a_on_cpu_and_names_the_gpu(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert mfu_line(config, [(100, 10)], 1.0, None) == "MFU: n/a on CPU"
    flops = scoring_flops(model_shape(config), [(100, 10)])
    line = mfu_line(config, [(100, 10)], flops / 989e12 / 0.25, "NVIDIA H200")  # a quarter of the peak
    assert line.startswith("MFU: 25.0% of NVIDIA H200's 989 TFLOP/s bf16 peak")
    assert "n/a on Mystery GPU" in mfu_line(config, [(100, 10)], 1.0, "Mystery GPU")
