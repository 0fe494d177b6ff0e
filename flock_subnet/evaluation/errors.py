"""Evaluation faults, split by who is to blame, and classified by exception type only.

`ModelFault` (`fault` is `Fault.MINER`): the miner's model is at fault (it cannot be loaded
from its own files, its forward pass fails, or its loss is not finite): the validator scores it
zero for the round. `EvaluatorFault` (`Fault.VALIDATOR`): the evaluation itself failed (timeout,
out of memory, the worker died or was killed, the environment is broken). A validator does not
take an `EvaluatorFault` on a miner's model at its word: it evaluates the competition's base
model under the same limits (a control run), and only when that passes too is the failure its
own; otherwise the miner's model is what exhausted the limits.

No verdict ever depends on the text of an exception: messages can carry strings from a miner's
files (a config value, a file name), so only the exception's type and where it was raised count.
"""

from __future__ import annotations

import sys

from flock_subnet.errors import Fault, FlockError


class EvaluationError(FlockError):
    """An evaluation did not produce a score; `fault` says whose fault it is."""

    fault: Fault = Fault.VALIDATOR


class ModelFault(EvaluationError):
    """The submitted model is broken: score it zero (the message says how it failed)."""

    fault: Fault = Fault.MINER


class EvaluatorFault(EvaluationError):
    """The evaluation itself failed (timeout, memory, dead worker): a control run on the base model decides."""

    fault: Fault = Fault.VALIDATOR


def _torch_resource_types() -> tuple[type, ...]:
    torch = sys.modules.get("torch")  # only if the evaluation already imported it
    if torch is None:
        return ()
    found = (getattr(torch, "OutOfMemoryError", None), getattr(torch, "AcceleratorError", None))
    return tuple(t for t in found if isinstance(t, type) and issubclass(t, BaseException))


def is_resource_failure(exc: BaseException) -> bool:
    """True for `MemoryError`, torch's `OutOfMemoryError` and `AcceleratorError`, by type alone."""
    return isinstance(exc, (MemoryError, *_torch_resource_types()))
