"""How much memory a validator and a miner need: exact state sizes, and a measured peak on a GPU.

`min_compute.yml` is written from this module. Two parts:

- Arithmetic (pure): the parameter and adapter counts `models.params` gives for a Qwen2 config,
  and the bytes of what a run must hold whatever its batch: weights (bf16 for evaluation), and
  for training the float32 weights, gradients and AdamW moments (full fine-tuning) or the
  float32 frozen base plus the adapter's own weights, gradients and moments (LoRA). Answer-token logits (the vocabulary is
  most of a small model's activation memory) are `tokens x vocab x 10 bytes` during evaluation:
  bf16 logits, their float32 copy and the float32 log-softmax inside the cross-entropy.
- The admission budget: `models.costs.competition_cost` (weights, the activation peak of one
  forward pass and the FLOPs of one round, from the config alone) for the base model, and
  `competition_budget`, the most a submission may cost: the very function admission refuses
  configs with, so the hardware advice and the refusals quote the same numbers.
- Measurement: `python -m flock_subnet.ops.compute_budget --measure` builds the architecture from
  its config (random weights, nothing downloaded) and runs the project's own recipe on CUDA:
  evaluation as `evaluation/loss.py` does it (bf16, SDPA, inference mode, head applied to answer
  positions only) and two training steps as `miner/training/step.py` does them (float32 weights,
  bf16 autocast, AdamW), reporting `torch.cuda.max_memory_allocated`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from flock_subnet.models.costs import competition_costs
from flock_subnet.models.params import (
    lora_parameter_count,
    model_shape,
    parameter_count,
)

GIB = 1024**3

# Qwen/Qwen2.5-0.5B-Instruct's config.json (the `qwen05b` competition's base), as published.
QWEN25_05B: Mapping[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "vocab_size": 151936,
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
}

# What one hidden round of the `qwen05b` tasks looks like: 512 samples, measured with the kit's
# byte-level tokenizer at about 38 tokens per sample (48 at most), 19 518 tokens of which 3 567
# (18%) are answer tokens.
ROUND_SAMPLES = 512
ROUND_WIDTH = 48
ROUND_ANSWER_TOKENS = 3_567
ANSWER_SHARE = 0.18


@dataclass(frozen=True)
class StateBytes:
    """Bytes a run holds before any activation: the floor under every batch size."""

    parameters: int
    eval_weights_bf16: int
    full_finetune_states: int  # fp32 weights + fp32 grads + AdamW m and v
    lora_states: int  # fp32 frozen base + fp32 adapter weights, grads, m, v
    lora_parameters: int


def state_bytes(config: Mapping[str, Any], lora_rank: int = 16) -> StateBytes:
    """The state sizes of the model `config` describes, with LoRA of `lora_rank` on every linear layer."""
    shape = model_shape(config)
    params = parameter_count(shape)
    adapter = lora_parameter_count(shape, lora_rank)
    return StateBytes(
        parameters=params,
        eval_weights_bf16=2 * params,
        full_finetune_states=16 * params,
        lora_states=4 * params + 16 * adapter,
        lora_parameters=adapter,
    )


def eval_logit_bytes(answer_tokens: int, vocab_size: int) -> int:
    """Answer-position logits during scoring: bf16 (2) + float32 copy (4) + float32 log-softmax (4)."""
    return answer_tokens * vocab_size * 10


def admission_costs(config: Mapping[str, Any] = QWEN25_05B, competition_id: str = "qwen05b") -> dict[str, Any]:
    """The base model's round cost (bound and typical) and the budget admission holds submissions to, in GiB and TFLOP."""

    def row(memory: int, flops: int) -> dict[str, float]:
        return {"memory_gib": round(memory / GIB, 2), "tflop": round(flops / 1e12, 1)}

    costs = competition_costs(config, competition_id, ANSWER_SHARE)
    return {
        "base_round_bound": row(costs.bound.memory_bytes, costs.bound.flops),
        "base_round_typical_answers": row(costs.typical.memory_bytes, costs.typical.flops),
        "admission_budget": row(costs.budget.memory_bytes, costs.budget.flops),
    }


# ---------------------------------------------------------------------------- measurement (GPU)


def _model(config: Mapping[str, Any], dtype: Any) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(**{k: v for k, v in config.items() if k != "architectures"})
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return model


def _answer_positions(batch: int, width: int, share: float, device: str) -> tuple[Any, Any]:
    import torch

    per_row = max(1, round(width * share))
    rows = torch.arange(batch, device=device).repeat_interleave(per_row)
    cols = torch.arange(width - per_row - 1, width - 1, device=device).repeat(batch)
    return rows, cols


def measure_eval(config: Mapping[str, Any], batch: int, width: int, share: float) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    model = _model(config, torch.bfloat16).eval()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    ids = torch.randint(0, config["vocab_size"], (batch, width), device="cuda")
    rows, cols = _answer_positions(batch, width, share, "cuda")
    started = time.perf_counter()
    with torch.inference_mode():
        decoder = getattr(model, model.base_model_prefix)
        hidden = decoder(input_ids=ids, use_cache=False).last_hidden_state
        logits = model.get_output_embeddings()(hidden[rows, cols])
        loss = F.cross_entropy(logits.float(), ids[rows, cols + 1], reduction="none").mean()
    torch.cuda.synchronize()
    out = {
        "batch": batch, "width": width, "tokens": batch * width, "answer_tokens": int(rows.numel()),
        "weights_gib": base / GIB, "peak_gib": torch.cuda.max_memory_allocated() / GIB,
        "seconds": time.perf_counter() - started, "loss": float(loss),
    }
    del model, hidden, logits
    torch.cuda.empty_cache()
    return out


def measure_train(config: Mapping[str, Any], batch: int, width: int, share: float, lora_rank: int | None) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    model = _model(config, torch.float32).train()
    if lora_rank:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, target_modules="all-linear"))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.98))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    rows, cols = _answer_positions(batch, width, share, "cuda")
    inner = model.get_base_model() if lora_rank else model
    started = time.perf_counter()
    for step in range(2):
        ids = torch.randint(0, config["vocab_size"], (batch, width), device="cuda")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            hidden = getattr(inner, inner.base_model_prefix)(input_ids=ids, use_cache=False).last_hidden_state
            logits = inner.get_output_embeddings()(hidden[rows, cols])
            loss = F.cross_entropy(logits.float(), ids[rows, cols + 1])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    out = {
        "batch": batch, "width": width, "tokens": batch * width, "answer_tokens": int(rows.numel()),
        "lora_rank": lora_rank or 0, "trainable": sum(p.numel() for p in params),
        "weights_gib": base / GIB, "peak_gib": torch.cuda.max_memory_allocated() / GIB,
        "seconds_per_step": (time.perf_counter() - started) / 2,
    }
    del model, optimizer, params
    torch.cuda.empty_cache()
    return out


def measure_all(config: Mapping[str, Any] = QWEN25_05B) -> dict[str, Any]:
    import torch

    results: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    results["eval_round"] = measure_eval(config, ROUND_SAMPLES, ROUND_WIDTH, ANSWER_SHARE)
    results["eval_long"] = measure_eval(config, 64, 1024, ANSWER_SHARE)  # a full 65 536-token batch
    results["full_ft"] = measure_train(config, 4, 1024, ANSWER_SHARE, None)  # batch_tokens 4096
    results["full_ft_all_answer"] = measure_train(config, 4, 1024, 1.0, None)
    results["lora_r16"] = measure_train(config, 4, 1024, ANSWER_SHARE, 16)
    results["lora_r16_all_answer"] = measure_train(config, 4, 1024, 1.0, 16)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="memory budget of the qwen05b competition")
    parser.add_argument("--measure", action="store_true", help="also measure peaks on this machine's GPU")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"state_bytes": asdict(state_bytes(QWEN25_05B))}
    report["round_logits_bytes"] = eval_logit_bytes(ROUND_ANSWER_TOKENS, QWEN25_05B["vocab_size"])
    report["admission"] = admission_costs()
    if args.measure:
        report["measured"] = measure_all()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
