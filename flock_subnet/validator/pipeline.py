"""What a validator round carries from step to step, and the steps that need no I/O.

`Validator.run_round` runs plan -> evaluate -> score -> persist -> set weights -> report. The
steps that read or write the chain, the hub or the state live on the service; this module holds
the data passed between them (`RoundPlan`, `EvaluatedRound`, `ScoredRound`) and the pure steps:
scoring a planned and evaluated round (`score_round`) and sorting its faults into the miners'
and our own (`round_faults`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flock_subnet.chain.base import Metagraph
from flock_subnet.errors import Fault
from flock_subnet.rules import scoring
from flock_subnet.rules.competitions import Competition
from flock_subnet.validator.evaluations import EvaluationStats, Outcome
from flock_subnet.validator.plan import PlanStatus, Submission
from flock_subnet.validator.report import EvalStatus, UidReport
from flock_subnet.validator.verdict import Candidate, ScoringInput, judge


@dataclass(frozen=True)
class RoundPlan:
    """The round as the chain describes it: due competitions, their seeds, every uid's submission."""

    block: int
    rounds: dict[str, tuple[int, int]]  # due competition id -> (round start block, seed)
    metagraph: Metagraph
    submissions: list[Submission]  # one per registered uid, in uid order

    @property
    def hotkeys(self) -> dict[int, str]:
        return {n.uid: n.hotkey for n in self.metagraph.neurons}

    @property
    def eligible(self) -> list[Submission]:
        """The submissions to evaluate this round."""
        return [s for s in self.submissions if s.status == PlanStatus.ELIGIBLE and s.competition_id in self.rounds]

    @property
    def pending(self) -> list[Submission]:
        """Submissions committed too recently for this round."""
        return [s for s in self.submissions if s.status == PlanStatus.PENDING and s.competition_id in self.rounds]

    @property
    def keep(self) -> set[tuple[str, str]]:
        """(hotkey, revision) of every model some commitment still refers to."""
        return {s.key for s in self.submissions if s.key is not None}

    def round_block(self, competition_id: str) -> int:
        return self.rounds[competition_id][0]


@dataclass(frozen=True)
class EvaluatedRound:
    """What admission and evaluation made of the eligible submissions."""

    outcomes: dict[int, Outcome]  # uid -> outcome, for every eligible submission
    stats: EvaluationStats
    downloads: int  # admissions that went to the hub this round
    base_accuracy: dict[str, float | None] = field(default_factory=dict)  # gated competition -> the base's accuracy


@dataclass(frozen=True)
class ScoredRound:
    """Scores, EMAs and the final weights of a round, with every uid's row of the report."""

    scores: dict[str, scoring.CompetitionScores]  # due competition id -> its scores and new EMA
    weights: dict[int, float]  # uid -> final normalised weight, for every uid of the metagraph
    uids: dict[int, UidReport]


@dataclass(frozen=True)
class FaultNote:
    """One line of the fault log: whose fault, why, and where."""

    kind: Fault
    reason: str
    uid: int
    hotkey: str
    round_block: int
    competition_id: str | None = None


def candidates(
    plan: RoundPlan, outcomes: Mapping[int, Outcome], competition_id: str,
    streaks: Mapping[int, tuple[str, int]] | None = None,
) -> list[Candidate]:
    """The eligible and pending submissions of one competition, as the verdict takes them.

    `streaks` maps uid -> (hotkey, held rounds in a row) as of the last round; a streak counts
    only for the hotkey that built it.
    """
    found = []
    for sub in plan.submissions:
        if sub.competition_id != competition_id or sub.commit_block is None:
            continue
        hotkey, streak = (streaks or {}).get(sub.uid, ("", 0))
        before = streak if hotkey == sub.hotkey else 0
        if sub.status == PlanStatus.PENDING:
            found.append(Candidate(sub.uid, sub.commit_block, None, held_before=before))
        elif sub.status == PlanStatus.ELIGIBLE:
            outcome = outcomes[sub.uid]
            found.append(
                Candidate(sub.uid, sub.commit_block, outcome.status, outcome.loss, outcome.content_hash, before)
            )
    return found


def score_round(
    plan: RoundPlan,
    outcomes: Mapping[int, Outcome],
    competitions: Mapping[str, Competition],
    emas: Mapping[str, Mapping[int, float]],
    last_losses: Mapping[str, Mapping[str, float]],
    streaks: Mapping[str, Mapping[int, tuple[str, int]]] | None = None,
    base_accuracy: Mapping[str, float | None] | None = None,
) -> ScoredRound:
    """Score every due competition and combine all competitions' EMAs into the final weights.

    `emas` holds every scored competition's EMA before this round; `last_losses` maps a due
    competition to the earlier losses (by content hash) of models whose evaluation failed on
    our side this round; `streaks` maps a due competition to each uid's (hotkey, held rounds in
    a row) as of its last round; `base_accuracy` maps a competition with the accuracy gate to
    its base model's accuracy this round (`rules.scoring.below_base`).
    """
    scores: dict[str, scoring.CompetitionScores] = {}
    stale: set[int] = set()
    judgements: dict[str, ScoringInput] = {}
    for competition_id, (round_block, _seed) in plan.rounds.items():
        competition = competitions[competition_id]
        found = candidates(plan, outcomes, competition_id, (streaks or {}).get(competition_id))
        judged = judge(found, last_losses.get(competition_id, {}), competition.max_held_rounds)
        params = scoring.ScoringParams.from_competition(competition)
        barred: set[int] = set()
        if competition.require_accuracy_at_least_base:
            accuracies = {e.uid: outcomes[e.uid].accuracy for e in judged.entries if e.uid in outcomes}
            barred = scoring.below_base(accuracies, (base_accuracy or {}).get(competition_id))
        scores[competition_id] = scoring.score_competition(
            judged.entries, params, round_block, emas[competition_id], judged.held, barred
        )
        stale |= judged.stale
        judgements[competition_id] = judged
    current = {c: scores[c].ema if c in scores else emas[c] for c in competitions}
    shares = {c: competition.reward_share for c, competition in competitions.items()}
    n = plan.metagraph.n
    weights = dict(zip(range(n), scoring.weight_vector(scoring.combine_competitions(current, shares), n)))
    reports = uid_reports(plan, outcomes, scores, stale, weights)
    note_held_streaks(reports, judgements, competitions)
    return ScoredRound(scores, weights, reports)


def note_held_streaks(
    reports: Mapping[int, UidReport], judgements: Mapping[str, ScoringInput], competitions: Mapping[str, Competition]
) -> None:
    """Write each uid's held streak into its report, and say why an expired one scores zero."""
    for competition_id, judged in judgements.items():
        limit = competitions[competition_id].max_held_rounds
        for uid, streak in judged.held_rounds.items():
            report = reports[uid]
            report.held_rounds = streak
            if uid in judged.expired:
                report.detail = (
                    f"held {streak} rounds in a row, more than the {limit} this competition allows: "
                    f"scored as a failure until it is evaluated again ({report.detail or 'not evaluated'})"
                )


def uid_reports(
    plan: RoundPlan,
    outcomes: Mapping[int, Outcome],
    scores: Mapping[str, scoring.CompetitionScores],
    stale: set[int],
    weights: Mapping[int, float],
) -> dict[int, UidReport]:
    """Every uid's row of the round: its plan, its outcome and what scoring made of it."""
    reports: dict[int, UidReport] = {}
    for sub in plan.submissions:
        u = UidReport(
            uid=sub.uid, hotkey=sub.hotkey, status=sub.status, competition_id=sub.competition_id,
            model=None if sub.reference is None else sub.reference.short, commit_block=sub.commit_block,
            detail=sub.detail, weight=weights.get(sub.uid, 0.0),
        )
        outcome = outcomes.get(sub.uid)
        if outcome is not None:
            u.status, u.loss, u.content_hash, u.detail = outcome.status, outcome.loss, outcome.content_hash, outcome.detail
            u.accuracy = outcome.accuracy
        competition = scores.get(sub.competition_id or "")
        if competition is not None:
            s = competition.scores.get(sub.uid)
            if s is not None:
                u.loss, u.competitive, u.epsilon = s.loss, s.competitive, s.epsilon
                u.win_rate, u.round_weight = s.win_rate, s.round_weight
                u.stale_loss = sub.uid in stale
                if not s.competitive and s.loss is not None and not u.detail:
                    u.detail = "clone filter: not better than an earlier model by the decayed epsilon"
                if s.below_base and not u.detail:
                    u.detail = "accuracy gate: less accurate than the base model, so it cannot win this round"
            u.ema = competition.ema.get(sub.uid, 0.0)
        reports[sub.uid] = u
    return reports


def round_faults(plan: RoundPlan, outcomes: Mapping[int, Outcome]) -> list[FaultNote]:
    """The round's faults: malformed commitments and refused or failed models are the miners',
    held evaluations ours."""
    first_round = min(r for r, _seed in plan.rounds.values())
    notes = []
    for sub in plan.submissions:
        if sub.status == PlanStatus.MALFORMED:
            notes.append(FaultNote(Fault.MINER, f"malformed commitment: {sub.detail}", sub.uid, sub.hotkey, first_round))
            continue
        outcome = outcomes.get(sub.uid)
        if outcome is None or sub.competition_id is None:
            continue
        if outcome.status == EvalStatus.MINER_FAULT:
            kind = Fault.MINER
        elif outcome.status == EvalStatus.HELD:
            kind = Fault.VALIDATOR
        else:
            continue
        notes.append(
            FaultNote(kind, outcome.detail, sub.uid, sub.hotkey, plan.round_block(sub.competition_id), sub.competition_id)
        )
    return notes
