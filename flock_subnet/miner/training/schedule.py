"""The learning-rate schedule: linear warmup, then cosine decay to a floor.

Progress is the larger of the step budget used (`step / max_steps`) and the time budget used
(`elapsed / max_seconds`), so a run limited by time anneals properly too. With a step budget
alone the schedule depends only on the step, which keeps resumed runs reproducible.
"""

from __future__ import annotations

import math


def progress_fraction(step: int, elapsed_s: float, max_steps: int | None, max_seconds: float | None) -> float:
    """How much of the budget is spent, in [0, 1]; 0 when there is no budget at all."""
    parts = []
    if max_steps:
        parts.append(step / max_steps)
    if max_seconds:
        parts.append(elapsed_s / max_seconds)
    return min(1.0, max(parts, default=0.0))


def learning_rate(
    base_lr: float,
    step: int,
    progress: float,
    warmup_steps: int,
    min_lr_ratio: float = 0.1,
) -> float:
    """The rate for optimizer step number `step` (0-based) at budget `progress`."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, progress))))
    return base_lr * warm * (min_lr_ratio + (1.0 - min_lr_ratio) * cosine)
