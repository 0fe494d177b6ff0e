"""The held/zero decision, branch by branch, over plain data."""

from __future__ import annotations

from flock_subnet.rules import scoring
from flock_subnet.validator.report import EvalStatus
from flock_subnet.validator.verdict import Candidate, Decision, ScoringInput, Verdict, decide, judge

EARLIER = {"h-old": 1.25}  # content hash -> its loss in an earlier round


def test_an_evaluated_model_is_scored_with_its_loss():
    assert decide(Candidate(1, 10, EvalStatus.EVALUATED, 2.5, "h1"), EARLIER) == Decision(1, Verdict.SCORED, 2.5)


def test_a_cached_result_is_scored_like_a_fresh_one():
    assert decide(Candidate(1, 10, EvalStatus.CACHED, 2.5, "h1"), EARLIER) == Decision(1, Verdict.SCORED, 2.5)


def test_a_miner_fault_takes_part_without_a_loss():
    assert decide(Candidate(2, 10, EvalStatus.MINER_FAULT, None, "h2"), EARLIER) == Decision(2, Verdict.ZERO, None)
    # even a refused model whose content scored earlier: an earlier loss is only for our faults
    assert decide(Candidate(2, 10, EvalStatus.MINER_FAULT, None, "h-old"), EARLIER).verdict is Verdict.ZERO


def test_a_validator_fault_uses_the_same_contents_earlier_loss():
    decision = decide(Candidate(3, 10, EvalStatus.HELD, None, "h-old"), EARLIER)
    assert decision == Decision(3, Verdict.STALE, 1.25)


def test_a_validator_fault_without_an_earlier_loss_is_held():
    assert decide(Candidate(4, 10, EvalStatus.HELD, None, "h-new"), EARLIER) == Decision(4, Verdict.HELD)


def test_a_validator_fault_before_the_content_was_known_is_held():
    # the download failed on our side: there is no content hash to look an earlier loss up by
    assert decide(Candidate(5, 10, EvalStatus.HELD, None, None), EARLIER) == Decision(5, Verdict.HELD)
    assert decide(Candidate(5, 10, EvalStatus.HELD, None, ""), {"": 1.0}) == Decision(5, Verdict.HELD)


def test_a_pending_commitment_is_held():
    assert decide(Candidate(6, 30, None), EARLIER) == Decision(6, Verdict.HELD)


def test_judge_gathers_entries_held_uids_and_stale_losses_in_candidate_order():
    candidates = [
        Candidate(7, 30, None),  # pending
        Candidate(1, 10, EvalStatus.EVALUATED, 2.5, "h1"),
        Candidate(4, 11, EvalStatus.HELD, None, "h-new"),
        Candidate(2, 12, EvalStatus.MINER_FAULT, None, "h2"),
        Candidate(3, 13, EvalStatus.HELD, None, "h-old"),
        Candidate(5, 14, EvalStatus.CACHED, 2.0, "h5"),
    ]
    judged = judge(candidates, EARLIER)
    assert judged == ScoringInput(
        entries=[
            scoring.Entry(1, 10, 2.5, "h1"),
            scoring.Entry(2, 12, None, "h2"),
            scoring.Entry(3, 13, 1.25, "h-old"),
            scoring.Entry(5, 14, 2.0, "h5"),
        ],
        held=[7, 4],
        stale=frozenset({3}),
    )


def test_judge_of_nothing_is_empty():
    assert judge([], {}) == ScoringInput()


def test_verdicts_and_statuses_write_out_as_plain_values():
    assert f"{Verdict.STALE}" == "stale" and str(EvalStatus.HELD) == "held"
    assert [s.value for s in EvalStatus] == ["evaluated", "cached", "miner_fault", "held"]
