"""Model FLOPs utilisation of an evaluation: the model FLOPs it needed over what the GPU could do.

The FLOPs are the model's, not the kernels': every token's decoder pass (linear layers, and
attention over the positions before it, `models.params.forward_flops_per_token`) and the
output layer on the scored tokens only, for each sample as if scored alone. Work the evaluator
saves on top (a prompt prefix shared by several samples runs once) therefore counts as useful
work. The peak is the GPU's dense bf16 tensor-core rate (no sparsity) from its datasheet, looked
up by the name the driver reports; an unknown GPU has no MFU rather than a guessed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flock_subnet.models.params import ModelShape, forward_flops_per_token, model_shape

# Dense bf16 tensor-core peak in TFLOP/s, by a lower-case fragment of the device name; the
# first fragment found in the name wins, so the more specific names come first.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("b200", 2250.0),
    ("h200", 989.0),
    ("h100 pcie", 756.0),
    ("h100", 989.0),
    ("a100", 312.0),
    ("l40s", 362.0),
    ("l40", 181.0),
    ("l4", 121.0),
    ("rtx 4090", 165.2),
)


def peak_bf16_flops(device_name: str) -> float | None:
    """FLOP/s of `device_name` (as `torch.cuda.get_device_name` reports it), or None when not in the table."""
    name = device_name.lower()
    for fragment, tflops in PEAK_BF16_TFLOPS:
        if fragment in name:
            return tflops * 1e12
    return None


def scoring_flops(shape: ModelShape, samples: Iterable[tuple[int, int]]) -> int:
    """Model FLOPs of scoring `samples`, each given as (tokens, scored answer tokens)."""
    per_token = forward_flops_per_token(shape, context=0, with_head=False)
    attention_per_position = forward_flops_per_token(shape, context=1, with_head=False) - per_token
    head = forward_flops_per_token(shape, context=0, with_head=True) - per_token
    total = 0
    for tokens, scored in samples:
        positions_before = tokens * (tokens - 1) // 2  # token i attends over the i before it
        total += per_token * tokens + attention_per_position * positions_before + head * scored
    return total


def mfu_line(
    config: Mapping[str, object], samples: Iterable[tuple[int, int]], seconds: float, device_name: str | None
) -> str:
    """One line for a benchmark: the MFU on `device_name` (None: the CPU), with the GPU's name and peak."""
    if device_name is None:
        return "MFU: n/a on CPU"
    flops = scoring_flops(model_shape(config), samples)
    achieved = flops / max(seconds, 1e-12)
    peak = peak_bf16_flops(device_name)
    if peak is None:
        return (f"MFU: n/a on {device_name} (no bf16 peak in the table; {achieved / 1e12:,.1f} TFLOP/s achieved, "
                f"{flops / 1e12:,.2f} TFLOP of model work)")
    return (f"MFU: {100 * achieved / peak:.1f}% of {device_name}'s {peak / 1e12:,.0f} TFLOP/s bf16 peak "
            f"({achieved / 1e12:,.1f} TFLOP/s achieved, {flops / 1e12:,.2f} TFLOP of model work)")
