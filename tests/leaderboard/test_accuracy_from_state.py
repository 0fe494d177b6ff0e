"""The accuracy a validator stores with each evaluation is what the leaderboard shows."""

from __future__ import annotations

from flock_subnet.leaderboard.context import accuracy_of
from flock_subnet.validator.state import EvalRecord, ValidatorState


def test_stored_accuracy_round_trips_and_reaches_the_leaderboard(tmp_path):
    with ValidatorState(tmp_path / "state.db") as state:
        state.put_eval(EvalRecord("h1", "local", 10, 7, 1.25, accuracy=0.375, accuracy_per_task={"reverse": 0.5}))
        state.put_eval(EvalRecord("h2", "local", 10, 7, 1.5))  # accuracy not measured
        measured, unmeasured = state.get_eval("h1", "local", 10), state.get_eval("h2", "local", 10)
    assert measured.accuracy == 0.375 and measured.accuracy_per_task == {"reverse": 0.5}
    assert unmeasured.accuracy is None and unmeasured.accuracy_per_task == {}
    assert accuracy_of(measured) == 0.375 and accuracy_of(unmeasured) is None
