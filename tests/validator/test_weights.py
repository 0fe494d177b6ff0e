"""Setting weights on the real local chain: rate limit, version key, refusals, records."""

from __future__ import annotations

import pytest

from flock_subnet import SPEC_VERSION
from flock_subnet.chain.base import ChainErrorCode
from flock_subnet.validator.faults import Backoff
from flock_subnet.validator.state import SubmissionState, ValidatorState
from flock_subnet.validator.weights import WeightSetter
from tests.fixtures.chain import NETUID, register_neuron, register_validator


@pytest.fixture
def setup(make_local_chain, make_wallet, chain_owner, tmp_path):
    chain = make_local_chain("weights", weights_rate_limit=5)
    validator = make_wallet("validator")
    vuid = register_validator(chain, validator)
    miners = [register_neuron(chain, make_wallet(f"miner{i}")) for i in range(2)]
    state = ValidatorState(tmp_path / "state.db")
    chain.advance(5)
    setter = WeightSetter(chain, validator, NETUID, state, Backoff(attempts=2, base_s=0.01))
    yield chain, setter, state, vuid, miners
    state.close()


def test_sets_weights_with_the_spec_version_and_records_them(setup):
    chain, setter, state, vuid, (m1, m2) = setup
    outcome = setter.maybe_set({m1: 0.25, m2: 0.75}, round_block=10)
    assert outcome.set, outcome.message
    on_chain = chain.weights(NETUID)[vuid]
    assert on_chain[m2] == pytest.approx(1.0)
    assert on_chain[m1] == pytest.approx(1 / 3, abs=1e-4)  # max-upscaled, as subtensor stores them
    last = state.last_weights()
    assert last.block == chain.block() and last.version_key == SPEC_VERSION and last.round_block == 10
    assert last.weights[m2] == pytest.approx(0.75)


def test_respects_the_rate_limit_without_calling_the_chain(setup):
    chain, setter, state, vuid, (m1, m2) = setup
    assert setter.maybe_set({m1: 1.0}, 10).set
    again = setter.maybe_set({m2: 1.0}, 10)
    assert not again.set and "rate limited" in again.message and again.retry_after_blocks == 5
    assert len(state.weight_sets()) == 1  # no refused attempt was sent
    assert chain.weights(NETUID)[vuid].get(m2, 0.0) == 0.0
    chain.advance(5)
    assert setter.maybe_set({m2: 1.0}, 20).set
    assert chain.weights(NETUID)[vuid][m2] == pytest.approx(1.0)


def test_state_record_blocks_a_second_set_even_if_the_chain_looks_older(setup):
    chain, setter, state, vuid, (m1, _m2) = setup
    from flock_subnet.validator.state import WeightSet

    # as if a previous process set weights at this block and died before the chain view refreshed
    state.record_weights(WeightSet(chain.block(), 10, [m1], [1.0], True, "ok", SPEC_VERSION))
    outcome = setter.maybe_set({m1: 1.0}, 10)
    assert not outcome.set and "rate limited" in outcome.message


def test_chain_refusal_is_recorded_with_its_code(setup, chain_owner):
    chain, setter, state, vuid, (m1, _m2) = setup
    chain.set_hyperparameter(chain_owner, NETUID, "stake_threshold", 10**15)
    outcome = setter.maybe_set({m1: 1.0}, 10)
    assert not outcome.set and outcome.state is SubmissionState.REFUSED
    assert outcome.error == ChainErrorCode.NOT_ENOUGH_STAKE_TO_SET_WEIGHTS.value
    assert state.weight_sets()[0].ok is False and state.last_weights() is None
    assert state.counter("weight_sets_failed") == 1
    (refused,) = state.weight_submissions()
    assert refused.state is SubmissionState.REFUSED and "NotEnoughStakeToSetWeights" in refused.reason
    # no hammering: the next attempts wait a few blocks
    assert "trying again at block" in setter.maybe_set({m1: 1.0}, 10).message
    assert len(state.weight_sets()) == 1
    chain.set_hyperparameter(chain_owner, NETUID, "stake_threshold", 0)
    chain.advance(WeightSetter.REFUSAL_PAUSE_BLOCKS)
    assert setter.maybe_set({m1: 1.0}, 10).set
    assert state.weight_submissions()[0].state is SubmissionState.SET


def test_a_weights_version_above_the_spec_version_is_refused_locally(setup, chain_owner):
    chain, setter, state, vuid, (m1, _m2) = setup
    chain.set_hyperparameter(chain_owner, NETUID, "weights_version", SPEC_VERSION + 1)
    before = chain.metagraph(NETUID).neuron(vuid).last_update
    outcome = setter.maybe_set({m1: 1.0}, 10)
    assert not outcome.set and outcome.state is SubmissionState.REFUSED
    assert f"version {SPEC_VERSION + 1}" in outcome.message and "upgrade" in outcome.message
    assert state.weight_sets() == []  # nothing reached the chain
    assert chain.metagraph(NETUID).neuron(vuid).last_update == before
    setter.maybe_set({m1: 1.0}, 10)  # the loop asks again: one record per round and reason
    (refused,) = state.weight_submissions()
    assert refused.round_block == 10 and str(SPEC_VERSION + 1) in refused.reason


def test_a_hotkey_without_permit_is_refused_locally_but_the_owner_is_not(setup, make_wallet, chain_owner):
    chain, _setter, state, _vuid, (m1, _m2) = setup
    miner = make_wallet("miner0")  # registered in the fixture, no stake: no permit
    outcome = WeightSetter(chain, miner, NETUID, state, Backoff(attempts=2, base_s=0.01)).maybe_set({m1: 1.0}, 10)
    assert outcome.state is SubmissionState.REFUSED and "validator permit" in outcome.message
    owner = WeightSetter(chain, chain_owner, NETUID, state, Backoff(attempts=2, base_s=0.01))
    assert owner.maybe_set({m1: 1.0}, 10).set


def test_a_uid_that_changed_hands_gets_zero(setup):
    chain, setter, state, vuid, (m1, m2) = setup
    hotkeys = {n.uid: n.hotkey for n in chain.metagraph(NETUID).neurons}
    hotkeys[m1] = "5SomeoneWhoLeft"
    assert setter.maybe_set({m1: 0.5, m2: 0.5}, 10, hotkeys=hotkeys).set
    assert chain.weights(NETUID)[vuid] == {m2: pytest.approx(1.0)}


def test_nothing_to_reward_and_unregistered(setup, make_wallet, tmp_path):
    chain, setter, state, vuid, (m1, _m2) = setup
    assert "nothing to reward" in setter.maybe_set({m1: 0.0}, 10).message
    stranger = WeightSetter(chain, make_wallet("stranger"), NETUID, state)
    assert "not registered" in stranger.maybe_set({m1: 1.0}, 10).message
    assert state.weight_sets() == []


def test_a_fresh_registration_waits_out_the_rate_limit_and_says_so(make_local_chain, make_wallet, tmp_path):
    chain = make_local_chain("fresh", weights_rate_limit=50)
    chain.advance(3)
    validator = make_wallet("validator")
    register_validator(chain, validator)
    miner = register_neuron(chain, make_wallet("miner"))
    with ValidatorState(tmp_path / "state.db") as state:
        outcome = WeightSetter(chain, validator, NETUID, state, Backoff(attempts=2, base_s=0.01)).maybe_set({miner: 1.0}, 10)
    assert not outcome.set and outcome.retry_after_blocks > 0
    assert "registered" in outcome.message and "weights_rate_limit" in outcome.message, outcome.message
