"""Evaluation faults, split by who is to blame.

`ModelFault` (`fault` is `Fault.MINER`): the miner's model is at fault (it cannot be loaded
from its own files, its forward pass fails, or its loss is not finite): the validator scores it
zero for the round. `EvaluatorFault` (`Fault.VALIDATOR`): the validator's side failed (timeout,
out of memory, the worker died or was killed, the environment is broken): the validator retries
later and never punishes the miner.
"""

from __future__ import annotations

from flock_subnet.errors import Fault, FlockError


class EvaluationError(FlockError):
    """An evaluation did not produce a score; `fault` says whose fault it is."""

    fault: Fault = Fault.VALIDATOR


class ModelFault(EvaluationError):
    """The submitted model is broken: score it zero (the message says how it failed)."""

    fault: Fault = Fault.MINER


class EvaluatorFault(EvaluationError):
    """The evaluation itself failed (timeout, memory, dead worker): retry later; do not blame the miner."""

    fault: Fault = Fault.VALIDATOR


_MEMORY_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "std::bad_alloc")


def is_resource_failure(exc: BaseException) -> bool:
    """True for out-of-memory and accelerator failures, which are the evaluator's, not the model's."""
    if isinstance(exc, MemoryError):
        return True
    if type(exc).__name__ in {"OutOfMemoryError", "AcceleratorError"}:
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _MEMORY_MARKERS) or "cuda error" in text
