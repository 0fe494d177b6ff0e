"""Whose fault is it (`flock_subnet.errors.Fault`), and retrying with backoff when it is ours.

A *miner fault* (bad files, wrong hash, a model that crashes or yields a non-finite loss)
scores that miner zero for the round. A *validator fault* (the hub's 429/5xx, a chain
disconnect) is retried with exponential backoff and never punishes the miner: if it persists,
the miner keeps its previous score for the round. Faults are told apart by exception type
(`is_validator_fault`), never by message text. An evaluation that fails is not taken as the
validator's at its word: `evaluations.RoundEvaluator` runs the base model as a control first.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from loguru import logger

from flock_subnet.chain.base import ChainUnavailable
from flock_subnet.errors import Fault, FlockError
from flock_subnet.evaluation.errors import EvaluatorFault
from flock_subnet.hub.base import HubError

T = TypeVar("T")


class ValidatorFault(FlockError):
    """Something on the validator's side kept failing after retries; nobody is scored for it."""


def is_validator_fault(exc: BaseException) -> bool:
    """True for failures the validator must retry rather than blame on a miner."""
    if isinstance(exc, HubError):
        return exc.fault == Fault.VALIDATOR
    return isinstance(exc, (ChainUnavailable, ValidatorFault, EvaluatorFault, TimeoutError, ConnectionError, MemoryError))


@dataclass(frozen=True)
class Backoff:
    """Retry policy: `attempts` tries, sleeping `base_s * 2**i` (capped, with 10 % jitter) between them."""

    attempts: int = 3
    base_s: float = 2.0
    max_s: float = 60.0

    def delay(self, attempt: int, hint: float | None = None) -> float:
        delay = min(self.max_s, self.base_s * (2**attempt))
        if hint is not None:
            delay = min(self.max_s, max(delay, hint))
        return delay * (1.0 + 0.1 * random.random())


def retry(
    call: Callable[[], T],
    what: str,
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Run `call`; retry validator faults with backoff; re-raise the last one when attempts run out.

    Anything that is not a validator fault propagates at once.
    """
    for attempt in range(backoff.attempts):
        try:
            return call()
        except Exception as exc:
            if not is_validator_fault(exc) or attempt == backoff.attempts - 1:
                raise
            delay = backoff.delay(attempt, getattr(exc, "retry_after", None))
            logger.warning("{} failed ({}: {}); retrying in {:.1f}s", what, type(exc).__name__, exc, delay)
            if on_retry is not None:
                on_retry(exc)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
