"""Arguments of the port's writes, checked before any adapter touches a chain.

Both adapters call these first, so an odd argument (a huge or non-finite float, an integer too
large for the chain's types, text that is not UTF-8, a value of the wrong type) comes back as a
`ChainResult` with a reason instead of an exception from deep inside a library. Each function
returns the cleaned value or raises `InputRefused`; `InputRefused.result()` is the refusal.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from flock_subnet.chain.base import U16_MAX, ChainErrorCode, ChainResult

U64_MAX = (1 << 64) - 1


class InputRefused(Exception):
    """An argument no chain call could carry."""

    def __init__(self, code: ChainErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def result(self) -> ChainResult:
        return ChainResult.failure(self.code, self.message)


def _integer(value: Any, what: str, low: int, high: int, code: ChainErrorCode = ChainErrorCode.INVALID_INPUT) -> int:
    if isinstance(value, bool):
        raise InputRefused(code, f"{what} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InputRefused(code, f"{what} must be an integer, got {_short(value)}") from None
    if not low <= number <= high:
        raise InputRefused(code, f"{what} must be between {low} and {high}, got {_short(number)}")
    return int(number)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def netuid(value: Any) -> int:
    """A subnet id: an integer in 0..65535."""
    return _integer(value, "netuid", 0, U16_MAX)


def version_key(value: Any) -> int:
    """A weights version key: an integer in 0..2**64-1 (the chain's u64)."""
    return _integer(value, "version_key", 0, U64_MAX)


def commitment_bytes(data: Any, max_bytes: int) -> bytes:
    """A commitment as the bytes that go on chain: text (or bytes) that is valid UTF-8, at most `max_bytes`."""
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputRefused(
                ChainErrorCode.INVALID_INPUT, f"the commitment is not encodable as UTF-8 ({exc.reason} at {exc.start})"
            ) from None
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputRefused(
                ChainErrorCode.INVALID_INPUT,
                f"the commitment bytes are not UTF-8 ({exc.reason} at byte {exc.start}); commit text",
            ) from None
    else:
        raise InputRefused(ChainErrorCode.INVALID_INPUT, f"a commitment is text, got {type(data).__name__}")
    if len(raw) > max_bytes:
        raise InputRefused(
            ChainErrorCode.COMMITMENT_TOO_LARGE,
            f"commitment has {len(raw)} bytes; one Raw field holds at most {max_bytes}",
        )
    return raw


def weight_vector(uids: Any, weights: Any) -> tuple[list[int], list[float]]:
    """uids in 0..65535 and finite, non-negative weights, rescaled so the largest is 1.0.

    Rescaling keeps every proportion and keeps sums finite for weights near the float maximum.
    Length, duplicate and all-zero checks stay with each adapter, which knows its chain's order.
    """
    try:
        uid_items = list(uids) if not isinstance(uids, (str, bytes)) else None
        weight_items = list(weights) if not isinstance(weights, (str, bytes)) else None
    except TypeError:
        uid_items = weight_items = None
    if uid_items is None or weight_items is None:
        raise InputRefused(ChainErrorCode.INVALID_WEIGHTS, "uids and weights must be sequences of numbers")
    clean_uids = [_integer(u, "a uid", 0, U16_MAX, ChainErrorCode.INVALID_UIDS) for u in uid_items]
    clean_weights = [_weight(w) for w in weight_items]
    top = max(clean_weights, default=0.0)
    if top > 0:
        clean_weights = [w / top for w in clean_weights]
    return clean_uids, clean_weights


def _weight(value: Any) -> float:
    if isinstance(value, bool):
        raise InputRefused(ChainErrorCode.INVALID_WEIGHTS, f"a weight must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise InputRefused(ChainErrorCode.INVALID_WEIGHTS, f"weight {_short(value)} is too large for a float") from None
    except (TypeError, ValueError):
        raise InputRefused(ChainErrorCode.INVALID_WEIGHTS, f"a weight must be a number, got {_short(value)}") from None
    if not math.isfinite(number):
        raise InputRefused(ChainErrorCode.INVALID_WEIGHTS, f"weight {number} is not finite; weights must be finite")
    if number < 0:
        raise InputRefused(ChainErrorCode.INVALID_WEIGHTS, f"weight {number} is negative")
    return number

