"""When a training run stops: one pure decision, taken before every optimizer step.

The first reason that applies wins, in this order: a stop request (SIGTERM or Ctrl-C, see
`interrupt.py`), so a stopped run never starts another step; the step budget; the time budget;
and the end of the data the epoch budget allows. `None` means: take another step.
"""

from __future__ import annotations

from enum import Enum


class StopReason(str, Enum):
    """Why the loop ended; the value is what `TrainResult.stopped_by` reports."""

    INTERRUPTED = "interrupted"
    STEPS = "steps"
    SECONDS = "seconds"
    EPOCHS = "epochs"


def stop_reason(
    *,
    step: int,
    elapsed_s: float,
    max_steps: int | None,
    max_seconds: float | None,
    data_left: bool,
    stop_requested: bool = False,
) -> StopReason | None:
    """Why training stops before optimizer step `step` (0-based), or None to go on.

    `elapsed_s` counts every session of the run (a resumed run keeps its earlier time);
    `data_left` is False when the epoch budget has no micro-batch left to give.
    """
    if stop_requested:
        return StopReason.INTERRUPTED
    if max_steps and step >= max_steps:
        return StopReason.STEPS
    if max_seconds and elapsed_s >= max_seconds:
        return StopReason.SECONDS
    if not data_left:
        return StopReason.EPOCHS
    return None
