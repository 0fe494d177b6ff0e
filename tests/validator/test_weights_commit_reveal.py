"""Weights on a commit-reveal subnet of the local chain: committed, then revealed or dropped."""

from __future__ import annotations

from typing import Any

import pytest
from loguru import logger

from flock_subnet import SPEC_VERSION
from flock_subnet.validator.faults import Backoff
from flock_subnet.validator.state import SubmissionState, ValidatorState
from flock_subnet.validator.weights import WeightSetter, row_matches
from tests.fixtures.chain import NETUID, register_neuron, register_validator


class RecordingRun:
    """A W&B run stand-in that keeps what was logged."""

    def __init__(self) -> None:
        self.logged: list[dict[str, Any]] = []

    def log(self, data: dict[str, Any], step: int | None = None) -> None:
        self.logged.append(dict(data))


@pytest.fixture
def caplog_loguru():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="ERROR")
    yield lines
    logger.remove(sink)


@pytest.fixture
def cr(make_local_chain, make_wallet, tmp_path):
    chain = make_local_chain("cr", weights_rate_limit=0, commit_reveal_enabled=True)
    validator = make_wallet("validator")
    vuid = register_validator(chain, validator)
    miners = [register_neuron(chain, make_wallet(f"miner{i}")) for i in range(2)]
    state = ValidatorState(tmp_path / "state.db")
    setter = WeightSetter(chain, validator, NETUID, state, Backoff(attempts=2, base_s=0.01))
    yield chain, setter, state, vuid, miners
    state.close()


def test_a_commit_is_revealed_and_the_chain_shows_it(cr):
    chain, setter, state, vuid, (m1, m2) = cr
    outcome = setter.maybe_set({m1: 0.25, m2: 0.75}, round_block=10)
    assert outcome.set and outcome.state is SubmissionState.COMMITTED
    (committed,) = state.weight_submissions()
    assert committed.state is SubmissionState.COMMITTED and committed.reveal_by > chain.block()
    assert vuid not in chain.weights(NETUID)
    assert setter.track_reveals() == []  # not revealed yet, and the window is still open
    chain.advance_to(committed.reveal_by)
    assert [s.id for s in setter.track_reveals()] == [committed.id]
    (revealed,) = state.weight_submissions()
    assert revealed.state is SubmissionState.REVEALED and "shows the committed weights" in revealed.reason
    assert chain.weights(NETUID)[vuid][m2] == pytest.approx(1.0)


def test_a_reveal_the_chain_drops_raises_an_alarm(cr, chain_owner, caplog_loguru):
    chain, setter, state, vuid, (m1, _m2) = cr
    assert setter.maybe_set({m1: 1.0}, round_block=10).state is SubmissionState.COMMITTED
    # the owner raises the version after the commit: the chain drops the reveal without an error
    chain.set_hyperparameter(chain_owner, NETUID, "weights_version", SPEC_VERSION + 1)
    (committed,) = state.weight_submissions()
    chain.advance_to(committed.reveal_by)
    setter.track_reveals()
    (dropped,) = state.weight_submissions()
    assert dropped.state is SubmissionState.DROPPED and f"block {committed.block}" in dropped.reason
    assert vuid not in chain.weights(NETUID)
    assert any("ALARM weights dropped" in line for line in caplog_loguru)
    run = RecordingRun()
    setter.log_to(run, step=chain.block())  # type: ignore[arg-type]
    (logged,) = run.logged
    assert logged["weights/committed"] == 1 and logged["weights/dropped"] == 1
    assert logged["weights/problem"].startswith("dropped: not revealed by block")
    setter.log_to(run)  # nothing new to send
    assert len(run.logged) == 1


def test_a_newer_revealed_commit_settles_older_open_ones(cr):
    chain, setter, state, vuid, (m1, m2) = cr
    assert setter.maybe_set({m1: 1.0}, round_block=10).state is SubmissionState.COMMITTED
    chain.advance(1)
    assert setter.maybe_set({m2: 1.0}, round_block=20).state is SubmissionState.COMMITTED
    newest = state.weight_submissions()[0]
    chain.advance_to(newest.reveal_by)
    setter.track_reveals()
    assert [s.state for s in state.weight_submissions()] == [SubmissionState.REVEALED, SubmissionState.REVEALED]
    assert "superseded" in state.weight_submissions()[1].reason


def test_row_matches_compares_max_normalised_proportions():
    assert row_matches([0, 1, 2], [0.25, 0.75, 0.0], {0: 1 / 3, 1: 1.0})
    assert row_matches([0, 1], [0.25, 0.75], {0: 21845 / 65535, 1: 1.0, 2: 0.0})
    assert not row_matches([0, 1], [0.25, 0.75], {1: 1.0})
    assert not row_matches([0, 1], [0.5, 0.5], {0: 1.0, 1: 0.5})
    assert not row_matches([0], [0.0], {})
