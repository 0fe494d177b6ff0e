"""The stake-weighted median the chain uses for consensus, with its mid-index pivot.

Works on raw fixed-point ints (exact mode) and on floats alike: it only adds, subtracts and
compares. The quick-select is deterministic (pivot = the middle of the current partition), so
it returns exactly what subtensor's `weighted_median` returns, ties and all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

Num = TypeVar("Num", int, float)


def weighted_median(stake: Sequence[Num], score: Sequence[Num], minority: Num, lo: Num, hi: Num) -> Num:
    """Median of `score` weighted by `stake` at `minority`, searching the stake range [lo, hi].

    The iteration limit is the number of entries; an empty input returns 0.
    """
    zero = stake[0] * 0 if len(stake) else 0
    current = list(range(len(stake)))
    limit = len(current)
    iterations = 0
    while True:
        size = len(current)
        if size == 0:
            return zero
        if size == 1:
            return score[current[0]]
        iterations += 1
        if iterations > limit:
            return zero
        pivot = score[current[size // 2]]
        lower: list[int] = []
        upper: list[int] = []
        lo_stake = zero
        hi_stake = zero
        for idx in current:
            value = score[idx]
            if value < pivot:
                lo_stake += stake[idx]
                lower.append(idx)
            elif pivot < value:
                hi_stake += stake[idx]
                upper.append(idx)
        if lo + lo_stake <= minority < hi - hi_stake:
            return pivot
        if minority < lo + lo_stake and lower:
            current = lower
            hi = lo + lo_stake
        elif hi - hi_stake <= minority and upper:
            current = upper
            lo = hi - hi_stake
        else:
            return pivot


def weighted_median_columns(
    stake: Sequence[Num], columns: Sequence[Sequence[Num]], majority: Num, normalize
) -> list[Num]:
    """`weighted_median_col_sparse`: consensus per column.

    `stake` are the (already filtered, positive) validator stakes; `columns[j]` the scores of
    those validators for column j (0 where a validator has no entry). `normalize` re-normalises
    the stakes the way the numeric mode does.
    """
    use_stake = normalize(list(stake))
    total = sum(use_stake) if use_stake else 0
    minority = total - majority
    zero = total * 0
    out = []
    for column in columns:
        first = column[0] if column else zero
        if all(v == first for v in column):
            out.append(_uniform_column(first, use_stake, minority, zero, total))
        else:
            out.append(weighted_median(use_stake, column, minority, zero, total))
    return out


def _uniform_column(value, stake, minority, zero, total):
    # All scores equal: the first pivot has no lower or upper set, so the answer is the value
    # (or 0 for an empty validator set).
    if not stake:
        return zero
    return value
