"""Length-bucketed batches under a token budget: the order in which training sees its samples.

Pure functions over sample lengths, no torch. A batch is a list of sample indices whose padded
size (`len(batch) * longest sample`) stays within `batch_tokens`. Samples are shuffled, then
sorted by length inside pools of nearby samples, so a batch holds samples of similar length
and almost no compute goes to padding; the batches themselves are then shuffled so training
does not see lengths in order. Everything is determined by `(seed, epoch)`, which is what lets
a killed run resume at exactly the batch where it stopped.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flock_subnet.errors import FlockError

# How many batches' worth of samples are sorted together: larger pools waste less padding but
# make batches less random.
POOL_BATCHES = 32


class BatchingError(FlockError):
    """The token budget cannot hold the data (a sample longer than the whole budget)."""


@dataclass(frozen=True)
class BatchPlan:
    """One epoch's batches and how much of their padded area is real tokens."""

    batches: tuple[tuple[int, ...], ...]
    real_tokens: int
    padded_tokens: int

    @property
    def efficiency(self) -> float:
        """Fraction of computed positions that are real tokens (1.0 = no padding)."""
        return self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0

    def __len__(self) -> int:
        return len(self.batches)


@dataclass(frozen=True)
class Cursor:
    """Where the next micro-batch comes from: batch `batch` of epoch `epoch`, whose plan is `plan`."""

    epoch: int
    batch: int
    plan: BatchPlan

    @property
    def epoch_progress(self) -> float:
        """Epochs read so far, fractional (2.5 = half-way through the third epoch)."""
        return self.epoch + self.batch / len(self.plan)


def draw_micro_batches(
    cursor: Cursor, count: int, max_batches: int | None, plan_for_epoch: Callable[[int], BatchPlan]
) -> tuple[tuple[tuple[int, ...], ...], Cursor]:
    """The next `count` micro-batches (fewer when `max_batches` runs out) and the cursor after them.

    Reading past an epoch's last batch moves on to the next epoch's plan, `plan_for_epoch(epoch)`.
    `max_batches` caps `epoch * len(plan) + batch`, the micro-batches the epoch budget allows.
    Nothing is changed: the caller keeps the returned cursor only if it trains on the batches.
    """
    epoch, batch, plan = cursor.epoch, cursor.batch, cursor.plan
    chosen: list[tuple[int, ...]] = []
    while len(chosen) < count:
        if max_batches is not None and epoch * len(plan) + batch >= max_batches:
            break
        if batch >= len(plan):
            epoch, batch = epoch + 1, 0
            plan = plan_for_epoch(epoch)
            continue
        chosen.append(plan.batches[batch])
        batch += 1
    return tuple(chosen), Cursor(epoch, batch, plan)


def _epoch_rng(seed: int, epoch: int) -> random.Random:
    return random.Random(f"flock-batches:{seed}:{epoch}")


def bucket_batches(
    lengths: Sequence[int],
    batch_tokens: int,
    seed: int,
    epoch: int = 0,
    max_batch_size: int | None = None,
    shuffle: bool = True,
) -> BatchPlan:
    """Group sample indices into batches of similar length, each within `batch_tokens` padded tokens."""
    if batch_tokens <= 0:
        raise BatchingError(f"batch_tokens must be positive, got {batch_tokens}")
    if max_batch_size is not None and max_batch_size <= 0:
        raise BatchingError(f"max_batch_size must be positive, got {max_batch_size}")
    longest = max(lengths, default=0)
    if longest > batch_tokens:
        raise BatchingError(
            f"a sample has {longest} tokens but a batch may hold only {batch_tokens}; "
            f"raise --batch-tokens to at least {longest} or lower the maximum sequence length"
        )
    order = list(range(len(lengths)))
    rng = _epoch_rng(seed, epoch)
    if shuffle:
        rng.shuffle(order)
    typical = max(1, batch_tokens // max(1, _median(lengths)))
    if max_batch_size:
        typical = min(typical, max_batch_size)
    pool_size = max(1, typical * POOL_BATCHES)
    batches: list[tuple[int, ...]] = []
    for start in range(0, len(order), pool_size):
        pool = sorted(order[start : start + pool_size], key=lambda i: (lengths[i], i))
        batches.extend(_fill(pool, lengths, batch_tokens, max_batch_size))
    if shuffle:
        rng.shuffle(batches)
    real = sum(lengths)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return BatchPlan(batches=tuple(batches), real_tokens=real, padded_tokens=padded)


def _fill(pool: list[int], lengths: Sequence[int], batch_tokens: int, max_batch_size: int | None) -> list[tuple[int, ...]]:
    batches: list[tuple[int, ...]] = []
    current: list[int] = []
    longest = 0
    for index in pool:
        grown = max(longest, lengths[index])
        full = max_batch_size is not None and len(current) >= max_batch_size
        if current and (full or grown * (len(current) + 1) > batch_tokens):
            batches.append(tuple(current))
            current, grown = [], lengths[index]
        current.append(index)
        longest = grown
    if current:
        batches.append(tuple(current))
    return batches


def _median(values: Sequence[int]) -> int:
    if not values:
        return 1
    ordered = sorted(values)
    return max(1, ordered[len(ordered) // 2])

