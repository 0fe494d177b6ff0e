"""Pure batch planning for evaluation: shared prefixes once, length-sorted, a token budget per batch.

The evaluator never computes anything it does not need:
- the last token of a sample is not fed (nothing after it is scored);
- samples are grouped by a shared token prefix, level by level (the chat header and system
  prompt are the same for all samples, a task's instruction for many of them); a batch runs
  its common prefix once and reuses its keys and values for every row;
- inside a group samples are sorted by length and cut into batches by dynamic programming,
  trading padding against the fixed cost of a forward pass;
- a batch holds at most `max_tokens` padded tokens (rows x width), at least one sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_MAX_LEVELS = 32  # prefix levels searched (real rounds need a handful)


@dataclass(frozen=True)
class Batch:
    indices: tuple[int, ...]  # sample indices, in row order
    prefix: int  # tokens shared by every row, computed once
    width: int  # padded length of the rows after the prefix

    @property
    def padded_tokens(self) -> int:
        return self.prefix + len(self.indices) * self.width


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _groups(
    sequences: list[list[int]], max_prefix: list[int], max_tokens: int, min_group: int, overhead: int
) -> list[list[int]]:
    """Groups of samples that share a prefix, found level by level in lexicographic order.

    Sorted lexicographically, the samples sharing any prefix are contiguous, and the prefix two
    of them share is the smallest link (common prefix of neighbours) between them. A run is cut
    at its smallest links into pieces when the pieces, each with its own longer shared prefix,
    are estimated to cost fewer tokens (the tokens after the shared prefix, plus the prefix and
    `overhead` once per batch of `max_tokens`) than the run as one group. Pieces smaller than
    `min_group` stay together as one group.
    """
    order = sorted(range(len(sequences)), key=lambda i: (sequences[i], i))
    if len(order) < 2:
        return [order] if order else []
    links = [common_prefix(sequences[a], sequences[b]) for a, b in zip(order, order[1:])]

    def cost(group: list[int]) -> float:
        shared = _shared(sequences, max_prefix, group)
        tokens = sum(len(sequences[i]) - shared for i in group)
        return tokens + -(-tokens // max_tokens) * (overhead + shared)

    return _best(order, links, min_group, cost)[1]


def _best(
    run: list[int], links: list[int], min_group: int, cost: Callable[[list[int]], float], depth: int = 0
) -> tuple[float, list[list[int]]]:
    """(estimated cost, groups) of the cheaper of `run` as one group and `run` cut at its smallest links."""
    whole = cost(run)
    if len(run) < 2 * min_group or depth >= _MAX_LEVELS:
        return whole, [run]
    floor = min(links)
    pieces: list[tuple[int, int]] = []  # [start, end) of each piece between links at the floor
    start = 0
    for k, link in enumerate(links):
        if link == floor:
            pieces.append((start, k + 1))
            start = k + 1
    pieces.append((start, len(run)))
    rest = [i for a, b in pieces if b - a < min_group for i in run[a:b]]
    total, groups = (cost(rest), [rest]) if rest else (0.0, [])
    for a, b in pieces:
        if b - a >= min_group:
            piece_cost, piece_groups = _best(run[a:b], links[a : b - 1], min_group, cost, depth + 1)
            total += piece_cost
            groups = piece_groups + groups
    return (total, groups) if total < whole else (whole, [run])


def plan_batches(
    sequences: list[list[int]],
    max_prefix: list[int],
    max_tokens: int,
    share_prefixes: bool = True,
    min_group: int = 4,
    batch_overhead_tokens: int = 64,
) -> list[Batch]:
    """Batches covering every sample once.

    `sequences[i]` are the tokens sample i feeds to the model; `max_prefix[i]` is how many of
    its leading tokens may be shared (the hidden state of every scored position must come
    from the rows, so it is the position of the first needed hidden state). Inside a group the
    length-sorted samples are cut into batches that minimise padded tokens plus
    `batch_overhead_tokens` per batch (the fixed cost of one forward pass, in tokens).
    """
    if share_prefixes:
        groups = _groups(sequences, max_prefix, max_tokens, min_group, batch_overhead_tokens)
    else:
        groups = [list(range(len(sequences)))]
    batches: list[Batch] = []
    for group in groups:
        group = sorted(group, key=lambda i: (len(sequences[i]), i))
        shared = _shared(sequences, max_prefix, group) if share_prefixes else 0
        widths = [len(sequences[i]) - shared for i in group]
        for start, end in partition(widths, max_tokens, batch_overhead_tokens + shared):
            batches.append(_batch(sequences, max_prefix, group[start:end], share_prefixes))
    return batches


def partition(widths: list[int], max_tokens: int, overhead: int) -> list[tuple[int, int]]:
    """Cut ascending `widths` into contiguous runs minimising sum(rows x widest) + overhead per run.

    A run holds at most `max_tokens` padded tokens unless it is a single row. Exact dynamic
    programming, O(n x rows per batch); ties go to fewer batches.
    """
    n = len(widths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        widest = widths[end - 1]
        start = end - 1
        while start >= 0:
            rows = end - start
            if rows > 1 and rows * widest > max_tokens:
                break
            cost = best[start] + rows * widest + overhead
            if cost <= best[end]:  # ties: fewer, larger batches
                best[end], cut[end] = cost, start
            start -= 1
    runs = []
    end = n
    while end > 0:
        runs.append((cut[end], end))
        end = cut[end]
    return runs[::-1]


def _shared(sequences: list[list[int]], max_prefix: list[int], rows: list[int]) -> int:
    first = sequences[rows[0]]
    shared = min(max_prefix[i] for i in rows)
    for index in rows[1:]:
        shared = min(shared, common_prefix(first, sequences[index]))
    return max(shared, 0)


def _batch(sequences: list[list[int]], max_prefix: list[int], rows: list[int], share_prefixes: bool) -> Batch:
    prefix = _shared(sequences, max_prefix, rows) if share_prefixes and len(rows) > 1 else 0
    width = max(len(sequences[i]) for i in rows) - prefix
    return Batch(indices=tuple(rows), prefix=prefix, width=width)
