"""Every scoring rule, one test (or a few) per choice."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flock_subnet.rules import scoring
from flock_subnet.rules.competitions import LOCAL, QWEN_05B
from flock_subnet.rules.scoring import Entry, ScoringParams

PARAMS = ScoringParams(epsilon_start=0.02, epsilon_end=0.005, epsilon_decay_blocks=200)


# --- epsilon -------------------------------------------------------------------------------


def test_epsilon_decays_linearly_from_start_to_end():
    assert scoring.epsilon(0, 0.02, 0.005, 200) == pytest.approx(0.02)
    assert scoring.epsilon(100, 0.02, 0.005, 200) == pytest.approx(0.0125)
    assert scoring.epsilon(200, 0.02, 0.005, 200) == pytest.approx(0.005)


def test_epsilon_is_flat_after_decay_and_before_commit():
    assert scoring.epsilon(10_000, 0.02, 0.005, 200) == pytest.approx(0.005)
    assert scoring.epsilon(-5, 0.02, 0.005, 200) == pytest.approx(0.02)  # a commit "from the future" is fresh


def test_epsilon_without_decay_window_is_the_end_value():
    assert scoring.epsilon(0, 0.02, 0.005, 0) == 0.005


def test_sn37_reference_points():
    # 0.05 -> 0.01 over 21 600 blocks: 0.05 / 0.0367 / 0.0233 / 0.01 at 0 / 1 / 2 / 3 days
    values = [scoring.epsilon(d * 7200, 0.05, 0.01, 21_600) for d in range(4)]
    assert values == pytest.approx([0.05, 0.03667, 0.02333, 0.01], abs=1e-4)


# --- clone filter --------------------------------------------------------------------------


def test_same_content_hash_later_gets_dropped_earliest_kept():
    entries = [Entry(1, 50, 1.0, "h"), Entry(2, 40, 1.0, "h"), Entry(3, 60, 1.0, "h")]
    assert scoring.competitive_uids(entries, 0.005) == [2]


def test_same_hash_dropped_even_if_the_copy_scored_better():
    # same content evaluated on a different (stale) round could show a lower loss: the hash decides
    entries = [Entry(1, 10, 1.0, "h"), Entry(2, 20, 0.5, "h")]
    assert scoring.competitive_uids(entries, 0.005) == [1]


def test_not_better_by_decayed_epsilon_is_dropped():
    entries = [Entry(1, 10, 1.0, "a"), Entry(2, 20, 0.996, "b"), Entry(3, 30, 0.99, "c")]
    # 0.996 >= 1.0 * 0.995 -> dropped; 0.99 < 0.995 and < 0.996 * 0.995 -> kept
    assert scoring.competitive_uids(entries, 0.005) == [1, 3]


def test_clone_filter_compares_against_every_earlier_model():
    # uid 3 beats uid 2 by far but not uid 1 (the earliest): dropped
    entries = [Entry(1, 10, 0.5, "a"), Entry(2, 20, 1.0, "b"), Entry(3, 30, 0.6, "c")]
    assert scoring.competitive_uids(entries, 0.005) == [1]


def test_clone_filter_same_block_ties_broken_by_uid():
    entries = [Entry(7, 10, 1.0, "h"), Entry(3, 10, 1.0, "h")]
    assert scoring.competitive_uids(entries, 0.005) == [3]


def test_clone_filter_ignores_faulted_models():
    entries = [Entry(1, 10, None, "h"), Entry(2, 20, 1.0, "h"), Entry(3, 30, math.inf, "x")]
    assert scoring.competitive_uids(entries, 0.005) == [2]


def test_clone_filter_edge_cases():
    assert scoring.competitive_uids([], 0.005) == []
    assert scoring.competitive_uids([Entry(4, 1, 2.0)], 0.005) == [4]
    assert scoring.competitive_uids([Entry(4, 1, None)], 0.005) == []


# --- pairwise win rates --------------------------------------------------------------------


def test_later_model_must_beat_earlier_by_its_current_epsilon():
    early = Entry(1, 100, 1.0)
    fresh_eps = scoring.epsilon_for(early, 100, PARAMS)  # 0.02 at age 0
    assert fresh_eps == pytest.approx(0.02)
    barely = Entry(2, 100 + 1, 0.985)  # better, but by less than 2 %
    clearly = Entry(3, 101, 0.979)
    assert scoring.beats(early, barely, 100, PARAMS)
    assert not scoring.beats(barely, early, 100, PARAMS)
    assert scoring.beats(clearly, early, 100, PARAMS)


def test_epsilon_advantage_shrinks_as_the_earlier_model_ages():
    early = Entry(1, 0, 1.0)
    challenger = Entry(2, 300, 0.99)  # 1 % better
    assert scoring.beats(early, challenger, 10, PARAMS)  # early is fresh: 2 % needed
    assert scoring.beats(challenger, early, 300, PARAMS)  # early is old: 0.5 % needed


def test_exact_tie_goes_to_the_earlier_commit_then_lower_uid():
    assert scoring.beats(Entry(1, 5, 1.0), Entry(2, 9, 1.0), 10, PARAMS)
    assert scoring.beats(Entry(2, 5, 1.0), Entry(1, 9, 1.0), 10, PARAMS)
    assert scoring.beats(Entry(1, 5, 1.0), Entry(2, 5, 1.0), 10, PARAMS)  # same block: lower uid


def test_beats_refuses_self_comparison():
    with pytest.raises(ValueError):
        scoring.beats(Entry(1, 5, 1.0), Entry(1, 5, 1.0), 10, PARAMS)


def test_later_commit_wins_at_the_epsilon_boundary():
    # incumbent committed at block 100, round at block 200: age 100, epsilon 0.0125
    eps = scoring.epsilon(100, PARAMS.epsilon_start, PARAMS.epsilon_end, PARAMS.epsilon_decay_blocks)
    boundary = 1.0 * (1.0 - eps)
    assert not scoring.later_commit_wins(boundary, 1.0, 100, 200, PARAMS)  # exactly epsilon better: not enough
    assert scoring.later_commit_wins(math.nextafter(boundary, 0.0), 1.0, 100, 200, PARAMS)
    assert not scoring.later_commit_wins(1.0, 1.0, 100, 200, PARAMS)  # a tie keeps the incumbent


@given(
    st.floats(0.1, 10.0), st.floats(0.1, 10.0), st.integers(0, 1000), st.integers(1, 1000), st.integers(0, 2000)
)
def test_beats_is_later_commit_wins_for_every_pair(loss_a, loss_b, block_a, gap, round_offset):
    earlier, later = Entry(1, block_a, loss_a), Entry(2, block_a + gap, loss_b)
    round_block = block_a + round_offset
    expected = scoring.later_commit_wins(loss_b, loss_a, block_a, round_block, PARAMS)
    assert scoring.beats(later, earlier, round_block, PARAMS) is expected
    assert scoring.beats(earlier, later, round_block, PARAMS) is not expected


def test_win_rates_count_every_pair_once():
    entries = [Entry(1, 0, 1.0), Entry(2, 1000, 0.9), Entry(3, 1000, 0.95)]
    rates = scoring.win_rates(entries, 1000, PARAMS)
    assert rates == {1: 0.0, 2: 1.0, 3: 0.5}


def test_win_rates_zero_and_one_candidate():
    assert scoring.win_rates([], 10, PARAMS) == {}
    assert scoring.win_rates([Entry(9, 1, 3.0)], 10, PARAMS) == {9: 1.0}
    assert scoring.win_rates([Entry(9, 1, None)], 10, PARAMS) == {}


# --- round weights -------------------------------------------------------------------------


def test_winner_take_all_gives_everything_to_the_best_rate():
    rates = {1: 0.5, 2: 1.0, 3: 0.0}
    order = {1: (1, 1), 2: (2, 2), 3: (3, 3)}
    assert scoring.round_weights(rates, order) == {1: 0.0, 2: 1.0, 3: 0.0}


def test_winner_take_all_tie_goes_to_earlier_block_then_uid():
    # a cycle (possible because epsilon is not transitive) leaves equal rates
    rates = {1: 0.5, 2: 0.5, 3: 0.5}
    assert scoring.round_weights(rates, {1: (30, 1), 2: (10, 2), 3: (20, 3)})[2] == 1.0
    assert scoring.round_weights(rates, {1: (10, 1), 2: (10, 2), 3: (20, 3)})[1] == 1.0


def test_softmax_weights_follow_win_rates():
    rates = {1: 1.0, 2: 0.5, 3: 0.0}
    weights = scoring.round_weights(rates, {}, "softmax", temperature=0.5)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights[1] > weights[2] > weights[3] > 0
    assert weights[1] / weights[2] == pytest.approx(math.e)


def test_softmax_stays_finite_at_tiny_temperature():
    weights = scoring.round_weights({1: 1.0, 2: 0.0}, {}, "softmax", temperature=1e-4)
    assert weights == {1: 1.0, 2: 0.0}


def test_round_weights_errors_and_empty():
    assert scoring.round_weights({}, {}) == {}
    with pytest.raises(ValueError):
        scoring.round_weights({1: 1.0}, {}, "softmax", temperature=0)
    with pytest.raises(ValueError):
        scoring.round_weights({1: 1.0}, {}, "lottery")  # type: ignore[arg-type]


# --- EMA -----------------------------------------------------------------------------------


def test_ema_moves_participants_towards_round_weight():
    ema = scoring.ema_update({1: 1.0, 2: 0.0}, {2: 1.0}, 0.5, participants=[1, 2])
    assert ema == {1: 0.5, 2: 0.5}


def test_ema_holds_uids_with_a_validator_fault():
    ema = scoring.ema_update({1: 0.8, 2: 0.2}, {2: 1.0}, 0.5, participants=[2], held=[1])
    assert ema == {1: 0.8, 2: 0.6}


def test_ema_drops_uids_that_no_longer_take_part():
    ema = scoring.ema_update({1: 0.8, 5: 0.2}, {1: 1.0}, 0.5, participants=[1])
    assert 5 not in ema


def test_ema_rejects_bad_alpha():
    with pytest.raises(ValueError):
        scoring.ema_update({}, {}, 0.0, [])
    with pytest.raises(ValueError):
        scoring.handover_rounds(1.5)


@pytest.mark.parametrize("alpha,rounds", [(1.0, 1), (0.5, 2), (0.3, 2), (0.1, 7), (0.05, 14)])
def test_handover_rounds(alpha, rounds):
    assert scoring.handover_rounds(alpha) == rounds
    # simulate: the old best held everything, the new one wins every round from now on
    ema = {1: 1.0, 2: 0.0}
    for _ in range(rounds):
        ema = scoring.ema_update(ema, {1: 0.0, 2: 1.0}, alpha, [1, 2])
    assert ema[2] > ema[1]
    if rounds > 1:
        ema = {1: 1.0, 2: 0.0}
        for _ in range(rounds - 1):
            ema = scoring.ema_update(ema, {1: 0.0, 2: 1.0}, alpha, [1, 2])
        assert ema[2] <= ema[1]


def test_shipped_competitions_hand_over_within_two_rounds():
    assert scoring.handover_rounds(LOCAL.ema_alpha) == 2
    assert scoring.handover_rounds(QWEN_05B.ema_alpha) == 2


# --- normalisation, shares, u16 ------------------------------------------------------------


def test_normalize_and_its_errors():
    assert scoring.normalize({1: 1.0, 2: 3.0}) == {1: 0.25, 2: 0.75}
    assert scoring.normalize({1: 0.0}) == {1: 0.0}
    assert scoring.normalize({}) == {}
    with pytest.raises(ValueError):
        scoring.normalize({1: -1.0})
    with pytest.raises(ValueError):
        scoring.normalize({1: math.nan})


def test_competition_reward_shares():
    combined = scoring.combine_competitions({"a": {1: 2.0, 2: 2.0}, "b": {3: 0.5}}, {"a": 0.75, "b": 0.25})
    assert combined == pytest.approx({1: 0.375, 2: 0.375, 3: 0.25})


def test_empty_competition_hands_its_share_to_the_others():
    combined = scoring.combine_competitions({"a": {1: 1.0}, "b": {3: 0.0}}, {"a": 0.5, "b": 0.5})
    assert combined == pytest.approx({1: 1.0, 3: 0.0})
    assert scoring.combine_competitions({"a": {1: 1.0}}, {"b": 1.0}) == {}


def test_weight_vector_is_dense_and_normalised():
    assert scoring.weight_vector({1: 3.0, 3: 1.0, 9: 5.0}, 4) == [0.0, 0.75, 0.0, 0.25]
    assert scoring.weight_vector({}, 3) == [0.0, 0.0, 0.0]


def test_u16_max_upscale_like_the_chain():
    assert scoring.weights_to_u16([2 / 3, 1 / 3]) == [65535, 32768]
    assert scoring.weights_to_u16([0.0, 0.0]) == [0, 0]
    assert scoring.weights_to_u16([0.25, 0.25, 0.5]) == [32768, 32768, 65535]
    assert scoring.u16_to_weights([65535, 0]) == [1.0, 0.0]
    assert scoring.u16_to_weights([0, 0]) == [0.0, 0.0]
    with pytest.raises(ValueError):
        scoring.weights_to_u16([-0.1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=40))
def test_u16_roundtrip_keeps_proportions(values):
    u16 = scoring.weights_to_u16(values)
    assert all(0 <= v <= 65535 for v in u16)
    if max(values) > 0:
        assert max(u16) == 65535
        back = scoring.u16_to_weights(u16)
        expected = scoring.normalize(dict(enumerate(values)))
        for i, value in enumerate(back):
            assert value == pytest.approx(expected[i], abs=2 / 65535 * len(values))


# --- whole pipeline ------------------------------------------------------------------------


def test_score_competition_copy_gets_nothing_best_original_wins():
    entries = [
        Entry(0, 100, 2.0, "base"),
        Entry(1, 110, 1.2, "good"),
        Entry(2, 105, 1.6, "ok"),
        Entry(3, 120, 1.2, "good"),  # byte copy of uid 1, committed later
    ]
    result = scoring.score_competition(entries, PARAMS, round_block=200)
    assert result.round_winner == 1
    assert result.scores[3].competitive is False
    assert result.scores[3].round_weight == 0.0 and result.scores[3].win_rate == 0.0
    assert result.scores[1].round_weight == 1.0
    assert result.ema == {0: 0.0, 1: 0.5, 2: 0.0, 3: 0.0}


def test_score_competition_all_faulted_or_empty():
    result = scoring.score_competition([Entry(0, 1, None), Entry(1, 2, None)], PARAMS, 10, {0: 0.4})
    assert result.round_winner is None
    assert result.ema == {0: 0.2, 1: 0.0}
    assert result.scores[0].loss is None
    empty = scoring.score_competition([], PARAMS, 10, {0: 0.4})
    assert empty.scores == {} and empty.ema == {}


def test_score_competition_held_uid_keeps_its_ema():
    result = scoring.score_competition([Entry(1, 1, 1.0)], PARAMS, 10, {1: 0.5, 2: 0.5}, held=[2])
    assert result.ema == {1: 0.75, 2: 0.5}


def test_score_competition_rejects_duplicate_uids():
    with pytest.raises(ValueError):
        scoring.score_competition([Entry(1, 1, 1.0), Entry(1, 2, 1.0)], PARAMS, 10)


def test_params_from_competition():
    params = ScoringParams.from_competition(LOCAL)
    assert params.epsilon_start == LOCAL.epsilon_start and params.weighting == LOCAL.weighting
    assert params.ema_alpha == LOCAL.ema_alpha and params.reward_share == LOCAL.reward_share


def test_scoring_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys, flock_subnet.rules.scoring; "
        "bad = [m for m in ('torch', 'bittensor', 'huggingface_hub', 'requests', 'httpx') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
