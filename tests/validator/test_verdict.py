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
    assert decision == Decision(3, Verdict.STALE, 1.25, held_rounds=1)


def test_a_validator_fault_without_an_earlier_loss_is_held():
    assert decide(Candidate(4, 10, EvalStatus.HELD, None, "h-new"), EARLIER) == Decision(4, Verdict.HELD, None, 1)


def test_a_validator_fault_before_the_content_was_known_is_held():
    # the download failed on our side: there is no content hash to look an earlier loss up by
    assert decide(Candidate(5, 10, EvalStatus.HELD, None, None), EARLIER) == Decision(5, Verdict.HELD, None, 1)
    assert decide(Candidate(5, 10, EvalStatus.HELD, None, ""), {"": 1.0}) == Decision(5, Verdict.HELD, None, 1)


def test_a_pending_commitment_is_held():
    assert decide(Candidate(6, 30, None), EARLIER) == Decision(6, Verdict.HELD, None, 1)


def test_held_is_temporary_past_the_limit_a_held_uid_scores_as_a_failure():
    limit = 2
    held, stale, pending = (
        Candidate(4, 10, EvalStatus.HELD, None, "h-new", held_before=1),
        Candidate(3, 10, EvalStatus.HELD, None, "h-old", held_before=1),
        Candidate(6, 30, None, held_before=1),
    )
    # the second round in a row still keeps the score ...
    assert decide(held, EARLIER, limit) == Decision(4, Verdict.HELD, None, 2)
    assert decide(stale, EARLIER, limit) == Decision(3, Verdict.STALE, 1.25, 2)
    assert decide(pending, EARLIER, limit) == Decision(6, Verdict.HELD, None, 2)
    # ... the third does not, whatever kind of hold it is: an entry without a loss
    for candidate in (held, stale, pending):
        third = Candidate(candidate.uid, candidate.commit_block, candidate.status, None, candidate.content_hash, 2)
        assert decide(third, EARLIER, limit) == Decision(candidate.uid, Verdict.EXPIRED, None, 3)
        assert decide(Candidate(candidate.uid, 10, candidate.status, None, candidate.content_hash, 9), EARLIER, limit).loss is None
    # without a limit the old behaviour stands; with 0, no hold at all
    assert decide(Candidate(4, 10, EvalStatus.HELD, None, "h-new", held_before=50), EARLIER).verdict is Verdict.HELD
    assert decide(Candidate(4, 10, EvalStatus.HELD, None, "h-new"), EARLIER, 0).verdict is Verdict.EXPIRED


def test_an_evaluation_resets_the_held_streak():
    for status, loss in ((EvalStatus.EVALUATED, 2.0), (EvalStatus.CACHED, 2.0), (EvalStatus.MINER_FAULT, None)):
        decision = decide(Candidate(1, 10, status, loss, "h1", held_before=7), EARLIER, 2)
        assert decision.held_rounds == 0 and decision.verdict in (Verdict.SCORED, Verdict.ZERO)


def test_judge_gathers_expired_uids_as_failures_with_their_streaks():
    candidates = [
        Candidate(1, 10, EvalStatus.EVALUATED, 2.5, "h1", held_before=3),
        Candidate(3, 13, EvalStatus.HELD, None, "h-old", held_before=2),  # stale for the third time
        Candidate(4, 11, EvalStatus.HELD, None, "h-new", held_before=1),
    ]
    judged = judge(candidates, EARLIER, max_held_rounds=2)
    assert judged.entries == [scoring.Entry(1, 10, 2.5, "h1"), scoring.Entry(3, 13, None, "h-old")]
    assert judged.held == [4] and judged.stale == frozenset() and judged.expired == frozenset({3})
    assert judged.held_rounds == {1: 0, 3: 3, 4: 2}


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
        held_rounds={7: 1, 1: 0, 4: 1, 2: 0, 3: 1, 5: 0},
    )


def test_judge_of_nothing_is_empty():
    assert judge([], {}) == ScoringInput()


def test_verdicts_and_statuses_write_out_as_plain_values():
    assert f"{Verdict.STALE}" == "stale" and str(EvalStatus.HELD) == "held" and str(Verdict.EXPIRED) == "expired"
    assert [s.value for s in EvalStatus] == ["evaluated", "cached", "miner_fault", "held"]
