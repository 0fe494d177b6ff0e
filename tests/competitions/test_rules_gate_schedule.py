"""The pure competition rules: the accuracy gate (a winner at least as accurate as the base
model, ranking on loss) and the schedule notes a round reports."""

from __future__ import annotations

import dataclasses

import pytest

from flock_subnet.rules import scoring
from flock_subnet.rules.competition_schema import competition_from_dict
from flock_subnet.rules.competitions import LOCAL, CompetitionFileError, schedule_note
from flock_subnet.rules.scoring import Entry, ScoringParams, below_base, score_competition
from tests.competitions.test_schema import _minimal as minimal

PARAMS = ScoringParams(epsilon_start=0.01, epsilon_end=0.005, epsilon_decay_blocks=100)


def test_below_base_bars_only_measured_models_under_the_bar():
    accuracies = {1: 0.30, 2: 0.50, 3: 0.49, 4: None, 5: float("nan")}
    assert below_base(accuracies, 0.5) == {1, 3}
    assert below_base(accuracies, None) == set()  # the base could not be evaluated: nobody is barred
    assert below_base(accuracies, 0.0) == set()


@pytest.mark.parametrize("weighting", ["winner_take_all", "softmax"])
def test_a_barred_model_keeps_its_rank_but_not_the_win(weighting):
    params = dataclasses.replace(PARAMS, weighting=weighting)
    entries = [Entry(1, 10, 1.00), Entry(2, 20, 0.90), Entry(3, 30, 0.80)]
    free = score_competition(entries, params, 100)
    gated = score_competition(entries, params, 100, barred={3})
    assert free.round_winner == 3
    assert gated.round_winner == 2  # the best of the others wins instead
    assert gated.scores[3].win_rate == free.scores[3].win_rate == 1.0  # ranking stays on loss
    assert gated.scores[3].round_weight == 0.0 and gated.scores[3].below_base
    assert not gated.scores[2].below_base
    assert sum(s.round_weight for s in gated.scores.values()) == pytest.approx(1.0)


def test_when_every_model_is_barred_nobody_wins_and_emas_decay():
    entries = [Entry(1, 10, 1.0), Entry(2, 20, 0.5)]
    scored = score_competition(entries, PARAMS, 100, previous_ema={1: 1.0}, barred={1, 2})
    assert scored.round_winner is None
    assert scored.ema[1] == pytest.approx(0.5) and scored.ema[2] == 0.0
    assert scoring.combine_competitions({"c": scored.ema}, {"c": 1.0}) == {1: 1.0, 2: 0.0}


def test_the_gate_is_declared_in_the_accuracy_table():
    data = minimal()
    data["accuracy"] = {"samples": 32, "at_least_base": True}
    competition = competition_from_dict(data)
    assert competition.require_accuracy_at_least_base and competition.accuracy_samples == 32
    assert not LOCAL.require_accuracy_at_least_base  # off unless a competition asks for it
    data["accuracy"] = {"samples": 32, "at_least_bas": True}
    with pytest.raises(CompetitionFileError, match=r"accuracy\.at_least_bas: unknown key \(did you mean 'at_least_base'\?\)"):
        competition_from_dict(data)
    data["accuracy"] = {"at_least_base": "yes"}
    with pytest.raises(CompetitionFileError, match=r"accuracy\.at_least_base: expected true or false"):
        competition_from_dict(data)


def test_schedule_notes_say_why_a_competition_is_not_scored():
    windowed = dataclasses.replace(LOCAL, id="window", start_block=100, end_block=200)
    assert schedule_note(windowed, 99) == "competition 'window' starts at block 100; not scored before it"
    assert schedule_note(windowed, 100) == "" and schedule_note(windowed, 199) == ""
    assert "ended at block 200" in schedule_note(windowed, 200)
    assert schedule_note(LOCAL, 0) == ""
