"""The held/zero decision: what each submission counts for in its competition's scoring this round.

For every eligible or pending submission of one competition:

| what happened | verdict | scoring sees |
|---|---|---|
| evaluated (now, or cached) | `SCORED` | its loss |
| a miner fault | `ZERO` | an entry without a loss: round weight zero |
| a validator fault; the same content has a loss from an earlier round | `STALE` | that loss (marked stale) |
| a validator fault; no earlier loss | `HELD` | no entry: the uid keeps its previous EMA |
| committed too recently (pending) | `HELD` | no entry: the uid keeps its previous EMA |

Pure: plain data in (each submission's evaluation status, and the earlier losses by content
hash), plain data out, so every branch is testable without a state file or a chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from flock_subnet.rules import scoring
from flock_subnet.validator.report import EvalStatus


class Verdict(str, Enum):
    """How one submission takes part in this round's scoring."""

    SCORED = "scored"  # with this round's loss
    ZERO = "zero"  # a miner fault: takes part without a loss
    STALE = "stale"  # a validator fault, scored with the same content's earlier loss
    HELD = "held"  # sits the round out and keeps its previous EMA

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Candidate:
    """One eligible or pending submission of a competition, with what evaluation made of it.

    `status` is None for a pending submission (it was not evaluated this round).
    """

    uid: int
    commit_block: int
    status: EvalStatus | None
    loss: float | None = None
    content_hash: str | None = None


@dataclass(frozen=True)
class Decision:
    """The verdict on one candidate, and the loss scoring uses (None: no usable loss)."""

    uid: int
    verdict: Verdict
    loss: float | None = None


@dataclass(frozen=True)
class ScoringInput:
    """A competition's candidates as `scoring.score_competition` takes them, in candidate order."""

    entries: list[scoring.Entry] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    stale: frozenset[int] = frozenset()


def decide(candidate: Candidate, last_losses: Mapping[str, float]) -> Decision:
    """The verdict on one candidate; `last_losses` maps content hash -> its loss in an earlier round."""
    if candidate.status is None:
        return Decision(candidate.uid, Verdict.HELD)
    if candidate.status == EvalStatus.MINER_FAULT:
        return Decision(candidate.uid, Verdict.ZERO)
    if candidate.status == EvalStatus.HELD:
        earlier = last_losses.get(candidate.content_hash) if candidate.content_hash else None
        if earlier is None:
            return Decision(candidate.uid, Verdict.HELD)
        return Decision(candidate.uid, Verdict.STALE, earlier)
    return Decision(candidate.uid, Verdict.SCORED, candidate.loss)


def judge(candidates: Sequence[Candidate], last_losses: Mapping[str, float]) -> ScoringInput:
    """Every candidate's verdict, gathered into scoring's entries and held uids."""
    entries: list[scoring.Entry] = []
    held: list[int] = []
    stale: set[int] = set()
    for candidate in candidates:
        decision = decide(candidate, last_losses)
        if decision.verdict is Verdict.HELD:
            held.append(candidate.uid)
            continue
        if decision.verdict is Verdict.STALE:
            stale.add(candidate.uid)
        entries.append(scoring.Entry(candidate.uid, candidate.commit_block, decision.loss, candidate.content_hash))
    return ScoringInput(entries, held, frozenset(stale))
