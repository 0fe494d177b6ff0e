"""The project's base error type, and whose fault a failure is.

Every error a user can meet says what to do next. Errors that decide a miner's score carry a
`Fault`: the miner's (bad files, a broken model: it scores zero) or the validator's side (the
hub, the chain or the evaluation machinery failed: retry, and never punish the miner).
"""

from __future__ import annotations

from enum import Enum


class FlockError(Exception):
    """Base class of every error flock_subnet raises on purpose."""


class Fault(str, Enum):
    """Whose fault a failure is; the value is what logs, state files and JSON hold."""

    MINER = "miner"
    VALIDATOR = "validator"

    def __str__(self) -> str:
        return self.value
