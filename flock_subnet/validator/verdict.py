"""The held/zero decision: what each submission counts for in its competition's scoring this round.

For every eligible or pending submission of one competition:

| what happened | verdict | scoring sees |
|---|---|---|
| evaluated (now, or cached) | `SCORED` | its loss |
| a miner fault | `ZERO` | an entry without a loss: round weight zero |
| a validator fault; the same content has a loss from an earlier round | `STALE` | that loss (marked stale) |
| a validator fault; no earlier loss | `HELD` | no entry: the uid keeps its previous EMA |
| committed too recently (pending) | `HELD` | no entry: the uid keeps its previous EMA |
| `HELD` or `STALE` for more than `max_held_rounds` consecutive rounds | `EXPIRED` | an entry without a loss: round weight zero |

Held is temporary: a validator fault must not freeze the share a miner once won. Every round a
uid is held or stale adds one to its streak (`held_rounds`); a round it is scored or zeroed
resets it. Past the competition's `max_held_rounds` the uid is scored as a failure until it is
evaluated again, whoever is at fault, so no miner gains from a fault it can provoke.

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
    EXPIRED = "expired"  # held for too many rounds in a row: takes part without a loss

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Candidate:
    """One eligible or pending submission of a competition, with what evaluation made of it.

    `status` is None for a pending submission (it was not evaluated this round). `held_before`
    is how many rounds in a row, up to the last one, the uid was held (same hotkey).
    """

    uid: int
    commit_block: int
    status: EvalStatus | None
    loss: float | None = None
    content_hash: str | None = None
    held_before: int = 0


@dataclass(frozen=True)
class Decision:
    """The verdict on one candidate, the loss scoring uses (None: no usable loss), and its held streak."""

    uid: int
    verdict: Verdict
    loss: float | None = None
    held_rounds: int = 0


@dataclass(frozen=True)
class ScoringInput:
    """A competition's candidates as `scoring.score_competition` takes them, in candidate order."""

    entries: list[scoring.Entry] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    stale: frozenset[int] = frozenset()
    expired: frozenset[int] = frozenset()  # held past the limit: scored as failures
    held_rounds: Mapping[int, int] = field(default_factory=dict)  # uid -> its held streak after this round


def _unexpired(candidate: Candidate, decision: Decision, max_held_rounds: int | None) -> Decision:
    """Count a held or stale round into the streak, and expire it past `max_held_rounds`."""
    streak = candidate.held_before + 1
    if max_held_rounds is not None and streak > max_held_rounds:
        return Decision(candidate.uid, Verdict.EXPIRED, None, streak)
    return Decision(candidate.uid, decision.verdict, decision.loss, streak)


def decide(candidate: Candidate, last_losses: Mapping[str, float], max_held_rounds: int | None = None) -> Decision:
    """The verdict on one candidate; `last_losses` maps content hash -> its loss in an earlier round.

    `max_held_rounds` (None: no limit) is how many consecutive held rounds keep the uid's score.
    """
    if candidate.status is None:
        return _unexpired(candidate, Decision(candidate.uid, Verdict.HELD), max_held_rounds)
    if candidate.status == EvalStatus.MINER_FAULT:
        return Decision(candidate.uid, Verdict.ZERO)
    if candidate.status == EvalStatus.HELD:
        earlier = last_losses.get(candidate.content_hash) if candidate.content_hash else None
        if earlier is None:
            return _unexpired(candidate, Decision(candidate.uid, Verdict.HELD), max_held_rounds)
        return _unexpired(candidate, Decision(candidate.uid, Verdict.STALE, earlier), max_held_rounds)
    return Decision(candidate.uid, Verdict.SCORED, candidate.loss)


def judge(
    candidates: Sequence[Candidate], last_losses: Mapping[str, float], max_held_rounds: int | None = None
) -> ScoringInput:
    """Every candidate's verdict, gathered into scoring's entries, held uids and held streaks."""
    entries: list[scoring.Entry] = []
    held: list[int] = []
    stale: set[int] = set()
    expired: set[int] = set()
    streaks: dict[int, int] = {}
    for candidate in candidates:
        decision = decide(candidate, last_losses, max_held_rounds)
        streaks[candidate.uid] = decision.held_rounds
        if decision.verdict is Verdict.HELD:
            held.append(candidate.uid)
            continue
        if decision.verdict is Verdict.STALE:
            stale.add(candidate.uid)
        if decision.verdict is Verdict.EXPIRED:
            expired.add(candidate.uid)
        entries.append(scoring.Entry(candidate.uid, candidate.commit_block, decision.loss, candidate.content_hash))
    return ScoringInput(entries, held, frozenset(stale), frozenset(expired), streaks)
