"""Byte-identical models: the evaluation is reported as the earliest commit's, whichever download finished first."""

from __future__ import annotations

from flock_subnet.validator.evaluations import Outcome, credit_first_commit
from flock_subnet.validator.plan import PlanStatus, Submission
from flock_subnet.validator.report import EvalStatus


def _sub(uid: int, block: int) -> Submission:
    return Submission(uid, f"hk{uid}", PlanStatus.ELIGIBLE, commit_block=block, competition_id="local")


def test_the_earliest_commit_is_reported_as_evaluated():
    subs = [_sub(1, 30), _sub(2, 10), _sub(3, 20)]
    outcomes = {
        1: Outcome(EvalStatus.EVALUATED, 2.0, "h"),  # the copy's download finished first
        2: Outcome(EvalStatus.CACHED, 2.0, "h"),
        3: Outcome(EvalStatus.EVALUATED, 3.0, "other"),
    }
    credit_first_commit(outcomes, subs)
    assert outcomes[2].status == EvalStatus.EVALUATED and outcomes[1].status == EvalStatus.CACHED
    assert outcomes[3].status == EvalStatus.EVALUATED and outcomes[1].loss == outcomes[2].loss == 2.0


def test_results_from_an_earlier_run_and_faults_are_left_alone():
    subs = [_sub(1, 30), _sub(2, 10), _sub(3, 5)]
    outcomes = {
        1: Outcome(EvalStatus.CACHED, 2.0, "h"),  # all from the state: nothing ran now
        2: Outcome(EvalStatus.CACHED, 2.0, "h"),
        3: Outcome(EvalStatus.MINER_FAULT, None, "h"),
    }
    before = dict(outcomes)
    credit_first_commit(outcomes, subs)
    assert outcomes == before
