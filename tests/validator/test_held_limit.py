"""Held is temporary: a miner that keeps the validator failing keeps its score for at most
`max_held_rounds` rounds in a row, then scores as a failure until it is evaluated again."""

from __future__ import annotations

import json

import pytest

from flock_subnet.cli import main
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.validator.report import EvalStatus
from flock_subnet.validator.state import ValidatorState


@pytest.fixture
def frozen_share(make_subnet, miner_models):
    """A miner that once won (EMA 1.0) and now makes every download of its repo fail on the hub,
    next to an honest miner with a real model."""
    subnet = make_subnet()
    subnet.add_validator("val")
    subnet.add_miner("freezer")
    subnet.add_miner("honest")
    subnet.publish("freezer", "mallory", miner_models["base"], "tiny-freeze")
    subnet.publish("honest", "alice", miner_models["good"], "tiny-good")
    subnet.advance_to_next_round()
    subnet.hub.fail_next(503, times=100_000, path_contains="tiny-freeze")
    return subnet


def test_a_miner_cannot_stay_held_beyond_the_limit(frozen_share, tmp_path, capsys):
    subnet = frozen_share
    freezer, honest = subnet.uids["freezer"], subnet.uids["honest"]
    workdir = tmp_path / "val"
    with ValidatorState(workdir / "state.db") as seeded:  # the round it once won
        seeded.set_ema(LOCAL.id, {freezer: 1.0}, {freezer: subnet.wallets["freezer"].hotkey.ss58_address}, 0)
    assert LOCAL.max_held_rounds == 2

    emas, streaks = [], []
    for round_index in range(4):
        if round_index in (0, 2):  # a restart: the streak lives in the state, not in the process
            validator = subnet.validator("val", workdir, eval_samples=8)
        try:
            report = validator.run_round()
        finally:
            if round_index in (1, 3):
                validator.close()
        u = report.uids[freezer]
        assert u.status == EvalStatus.HELD and "503" in u.detail  # the hub's fault every time
        emas.append(u.ema)
        streaks.append(u.held_rounds)
        assert report.uids[honest].held_rounds == 0
        payload = report.wandb_payload()
        assert payload[f"uid/{freezer}/held_rounds"] == round_index + 1
        if round_index < 3:
            subnet.chain.advance(LOCAL.round_length_blocks)

    assert streaks == [1, 2, 3, 4]
    # two rounds keep the old score; from the third the miner takes part without a loss
    assert emas[0] == emas[1] == pytest.approx(1.0)
    assert emas[2] == pytest.approx(1.0 * (1 - LOCAL.ema_alpha))
    assert emas[3] == pytest.approx(emas[2] * (1 - LOCAL.ema_alpha))
    assert "more than the 2 this competition allows" in report.uids[freezer].detail
    assert report.weights[honest] > report.weights[freezer]

    with ValidatorState(workdir / "state.db") as state:
        last = report.round_block
        assert state.held_streaks(LOCAL.id, last + 1)[freezer][1] == 4
        assert state.held_streaks(LOCAL.id, last)[freezer][1] == 3  # a rerun of the last round counts it once
        assert state.summary()["held_rounds"] == {LOCAL.id: {str(freezer): 4}}

    capsys.readouterr()
    assert main(["validator", "status", "--workdir", str(workdir), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["held_rounds"][LOCAL.id] == {str(freezer): 4}


def test_an_evaluation_ends_the_streak(frozen_share, tmp_path):
    subnet = frozen_share
    freezer = subnet.uids["freezer"]
    validator = subnet.validator("val", tmp_path / "val", eval_samples=8)
    try:
        assert validator.run_round().uids[freezer].held_rounds == 1
        subnet.hub.server.clear_faults()  # the outage is over
        subnet.chain.advance(LOCAL.round_length_blocks)
        report = validator.run_round()
        assert report.uids[freezer].status == EvalStatus.EVALUATED and report.uids[freezer].held_rounds == 0
    finally:
        validator.close()
