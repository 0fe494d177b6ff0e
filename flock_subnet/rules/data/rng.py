"""A seeded random stream that is the same on every machine and every Python version.

Validators must draw exactly the same hidden samples from the same round seed, so the draws
cannot depend on `random`'s algorithms (only `random.random()` is promised to stay stable
across Python versions). `SeedStream` hashes its key with a counter (sha256) and turns the
bytes into integers by rejection sampling: plain arithmetic, identical everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableSequence, Sequence
from typing import TypeVar

T = TypeVar("T")

_ROUND_SEED_BYTES = 8  # seeds are 64-bit so they fit a signed SQLite integer once masked below


def round_seed(block_hash: str) -> int:
    """The round seed: the first 8 bytes (big-endian, top bit cleared) of sha256(block hash bytes).

    `block_hash` is the chain's `0x…` hex hash; text that is not hex is hashed as UTF-8.
    """
    text = block_hash[2:] if block_hash.lower().startswith("0x") else block_hash
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = block_hash.encode("utf-8")
    digest = hashlib.sha256(raw).digest()
    return int.from_bytes(digest[:_ROUND_SEED_BYTES], "big") & ((1 << 63) - 1)


class SeedStream:
    """Deterministic draws from a key: `SeedStream(b"domain", seed)`; `child(label)` derives a sub-stream."""

    def __init__(self, *parts: bytes | str | int) -> None:
        digest = hashlib.sha256()
        for part in parts:
            if isinstance(part, int):
                part = str(part)
            if isinstance(part, str):
                part = part.encode("utf-8")
            digest.update(len(part).to_bytes(4, "big") + part)
        self._key = digest.digest()
        self._counter = 0
        self._buffer = b""

    def child(self, label: str | int) -> "SeedStream":
        return SeedStream(self._key, label)

    def _u64(self) -> int:
        if len(self._buffer) < 8:
            self._buffer = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        value, self._buffer = int.from_bytes(self._buffer[:8], "big"), self._buffer[8:]
        return value

    def below(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        if n <= 0:
            raise ValueError("n must be positive")
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            value = self._u64()
            if value < limit:
                return value % n

    def randint(self, low: int, high: int) -> int:
        """A uniform integer in [low, high], both ends included."""
        return low + self.below(high - low + 1)

    def chance(self, numerator: int, denominator: int) -> bool:
        return self.below(denominator) < numerator

    def choice(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def shuffle(self, items: MutableSequence[T]) -> None:
        """Fisher-Yates, in place."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]

    def sample_indices(self, population: int, k: int) -> list[int]:
        """`k` distinct indices of `range(population)` in draw order (partial Fisher-Yates)."""
        k = min(k, population)
        chosen: dict[int, int] = {}
        result = []
        for i in range(k):
            j = i + self.below(population - i)
            result.append(chosen.get(j, j))
            chosen[j] = chosen.get(i, i)
        return result
