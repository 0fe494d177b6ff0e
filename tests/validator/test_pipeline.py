"""The round's pure steps: scoring a planned and evaluated round, and sorting its faults."""

from __future__ import annotations

import pytest

from flock_subnet.chain.base import CommitmentRecord, Metagraph, NeuronInfo
from flock_subnet.errors import Fault
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.validator.evaluations import EvaluationStats, Outcome
from flock_subnet.validator.pipeline import EvaluatedRound, RoundPlan, round_faults, score_round
from flock_subnet.validator.plan import PlanStatus, plan_submissions
from flock_subnet.validator.report import EvalStatus

ROUND = 20


def _plan() -> RoundPlan:
    neurons = tuple(NeuronInfo(uid, f"hk{uid}", "cold", 0, False, 0.0, 0.0, 0, 0, 0) for uid in range(7))
    metagraph = Metagraph(1, 30, neurons)

    def commit(uid: int, block: int) -> CommitmentRecord:
        text = protocol.encode(protocol.ModelReference(f"m{uid}/tiny", f"{uid:x}" * 40, "b" * 64, LOCAL.id))
        return CommitmentRecord(f"hk{uid}", text, block)

    commitments = {f"hk{uid}": commit(uid, 5 + uid) for uid in (1, 2, 5, 6)}
    commitments["hk3"] = commit(3, ROUND)  # too recent for this round
    commitments["hk4"] = CommitmentRecord("hk4", "not a commitment", 5)
    submissions = plan_submissions(metagraph, commitments, {LOCAL.id: LOCAL}, {LOCAL.id: ROUND})
    return RoundPlan(ROUND + 3, {LOCAL.id: (ROUND, 42)}, metagraph, submissions)


OUTCOMES = {
    1: Outcome(EvalStatus.EVALUATED, 2.0, "h1"),
    2: Outcome(EvalStatus.HELD, None, "h2", "evaluation failed on our side: timed out"),
    5: Outcome(EvalStatus.MINER_FAULT, None, "h5", "model failed: non-finite loss"),
    6: Outcome(EvalStatus.HELD, None, None, "download failed on our side: HTTP 503"),
}
PREVIOUS = {LOCAL.id: {2: 0.3, 3: 0.4, 6: 0.2}}


def test_the_plan_knows_what_to_evaluate_and_what_to_keep():
    plan = _plan()
    assert [s.uid for s in plan.eligible] == [1, 2, 5, 6]
    assert [s.uid for s in plan.pending] == [3]
    assert len(plan.keep) == 5 and plan.hotkeys[4] == "hk4" and plan.round_block(LOCAL.id) == ROUND


def test_score_round_applies_the_verdicts_and_combines_the_weights():
    plan = _plan()
    scored = score_round(plan, OUTCOMES, {LOCAL.id: LOCAL}, PREVIOUS, {LOCAL.id: {"h2": 1.0}})
    u = scored.uids
    assert u[2].status is EvalStatus.HELD and u[2].stale_loss and u[2].loss == 1.0  # scored on its earlier loss
    assert u[2].round_weight > 0 and scored.scores[LOCAL.id].round_winner == 2
    assert u[3].status is PlanStatus.PENDING and u[3].ema == pytest.approx(0.4)  # held at its EMA
    assert u[6].status is EvalStatus.HELD and not u[6].stale_loss and u[6].ema == pytest.approx(0.2)
    assert u[5].status is EvalStatus.MINER_FAULT and u[5].round_weight == 0.0
    assert u[4].status is PlanStatus.MALFORMED and u[0].status is PlanStatus.NO_COMMITMENT
    assert sorted(scored.weights) == list(range(7)) and sum(scored.weights.values()) == pytest.approx(1.0)
    assert scored.weights[0] == scored.weights[4] == scored.weights[5] == 0.0
    assert all(u[uid].weight == scored.weights[uid] for uid in u)


def test_without_an_earlier_loss_a_validator_fault_holds_the_ema():
    scored = score_round(_plan(), OUTCOMES, {LOCAL.id: LOCAL}, PREVIOUS, {})
    assert not scored.uids[2].stale_loss and scored.uids[2].ema == pytest.approx(0.3)
    assert scored.scores[LOCAL.id].round_winner == 1


def test_round_faults_tell_the_miners_from_ours():
    notes = round_faults(_plan(), OUTCOMES)
    assert [(n.uid, n.kind, n.competition_id) for n in notes] == [
        (2, Fault.VALIDATOR, LOCAL.id), (4, Fault.MINER, None), (5, Fault.MINER, LOCAL.id), (6, Fault.VALIDATOR, LOCAL.id),
    ]
    assert notes[1].reason.startswith("malformed commitment: ") and all(n.round_block == ROUND for n in notes)
    assert notes[3].reason == "download failed on our side: HTTP 503"


def test_an_evaluated_round_carries_the_stats():
    evaluated = EvaluatedRound(OUTCOMES, EvaluationStats(evaluated=1, seconds=[2.0]), downloads=3)
    assert evaluated.stats.timings()["eval_s_mean"] == 2.0 and evaluated.downloads == 3
