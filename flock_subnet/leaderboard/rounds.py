"""Replay the scoring rules over the losses a validator stored: win rates, leaders, the bar to beat.

The state keeps each round's per-uid losses; the commit order and content hashes come from the
chain's current commitments and the validator's admissions. Everything here is pure and uses
`flock_subnet.rules.scoring`, the same rules the validators run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flock_subnet.leaderboard.model import RoundPoint, ToBeat
from flock_subnet.leaderboard.sources import RoundRecord
from flock_subnet.rules import scoring
from flock_subnet.rules.competitions import Competition


@dataclass(frozen=True)
class RoundOutcome:
    """One round replayed: who was compared, who won what."""

    round_block: int
    entries: tuple[scoring.Entry, ...]
    win_rates: Mapping[int, float]
    competitive: frozenset[int]
    winner: int | None

    def loss_of(self, uid: int) -> float | None:
        for entry in self.entries:
            if entry.uid == uid:
                return entry.loss if entry.valid else None
        return None

    @property
    def best_loss(self) -> float | None:
        valid = [e.loss for e in self.entries if e.valid]
        return min(valid) if valid else None  # type: ignore[type-var]


def replay(
    record: RoundRecord,
    competition: Competition,
    commit_blocks: Mapping[int, int],
    content_hashes: Mapping[int, str],
) -> RoundOutcome:
    """Score one stored round again. A uid's commit block is its current commitment's, capped at the
    last block that was eligible for the round (a later commitment replaced the model scored then)."""
    params = scoring.ScoringParams.from_competition(competition)
    last_eligible = record.round_block - competition.eval_delay_blocks
    entries = []
    for uid, (_status, loss, _detail) in sorted(record.uids.items()):
        block = min(commit_blocks.get(uid, last_eligible), last_eligible)
        if record.held_rounds.get(uid, 0) > competition.max_held_rounds:  # held too long: took part without a loss
            entries.append(scoring.Entry(uid, block, None, content_hashes.get(uid)))
            continue
        if loss is None or not math.isfinite(loss):
            continue
        entries.append(scoring.Entry(uid, block, float(loss), content_hashes.get(uid)))
    keep = frozenset(scoring.competitive_uids(entries, params.epsilon_end))
    pool = [e for e in entries if e.uid in keep]
    rates = scoring.win_rates(pool, record.round_block, params)
    weights = scoring.round_weights(rates, {e.uid: e.order for e in entries}, params.weighting, params.softmax_temperature)
    winner = max(weights, key=lambda uid: (weights[uid], -uid)) if any(w > 0 for w in weights.values()) else None
    return RoundOutcome(record.round_block, tuple(entries), rates, keep, winner)


def leader_history(outcomes: Sequence[RoundOutcome]) -> tuple[RoundPoint, ...]:
    """The chart's points: each round's winner and its loss, new leaders flagged."""
    points: list[RoundPoint] = []
    previous: int | None = None
    for outcome in outcomes:
        leader = outcome.winner
        points.append(RoundPoint(
            round_block=outcome.round_block,
            leader_uid=leader,
            leader_loss=None if leader is None else outcome.loss_of(leader),
            best_loss=outcome.best_loss,
            new_leader=leader is not None and leader != previous,
            entrants=len(outcome.entries),
        ))
        if leader is not None:
            previous = leader
    return tuple(points)


def next_round(block: int, competition: Competition) -> int:
    """The first round a commitment made at `block` is evaluated in."""
    length = competition.round_length_blocks
    return -(-(block + competition.eval_delay_blocks) // length) * length


def to_beat(outcome: RoundOutcome | None, competition: Competition, block: int) -> ToBeat | None:
    """The loss a model committed at `block` needs to win the latest round's field.

    A newcomer is the later commit in every comparison: it must get under each competitive
    model's loss times (1 - that model's epsilon at the newcomer's first round) to win the
    pairwise comparisons, and under every valid model's loss times (1 - epsilon_end) to pass the
    clone filter. The lowest of these bars binds.
    """
    if outcome is None or outcome.winner is None:
        return None
    params = scoring.ScoringParams.from_competition(competition)
    first = next_round(block, competition)
    bars = []
    for entry in outcome.entries:
        if not entry.valid:
            continue
        eps = scoring.epsilon_for(entry, first, params) if entry.uid in outcome.competitive else params.epsilon_end
        bars.append((entry.loss * (1.0 - eps), entry.uid, entry, eps))  # type: ignore[operator]
    threshold, uid, entry, eps = min(bars, key=lambda bar: (bar[0], bar[1]))
    leader_loss = outcome.loss_of(outcome.winner)
    return ToBeat(
        first_round=first,
        blocks_until=max(0, first - block),
        threshold=threshold,
        binding_uid=uid,
        binding_loss=float(entry.loss),  # type: ignore[arg-type]
        epsilon=eps,
        binding_age_blocks=first - entry.block,
        leader_uid=outcome.winner,
        leader_loss=float(leader_loss if leader_loss is not None else entry.loss),  # type: ignore[arg-type]
        epsilon_start=competition.epsilon_start,
        epsilon_end=competition.epsilon_end,
        epsilon_decay_blocks=competition.epsilon_decay_blocks,
    )
