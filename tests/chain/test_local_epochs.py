"""Epochs on the local chain: what it credits equals `flock_subnet.rules.consensus` on the same inputs.

The test keeps its own copy of the epoch state (bonds, permits) and recomputes every epoch from
what the chain shows before it (stakes, weights, last updates, registrations), so it checks the
chain's storage round trip as well as its use of the consensus package.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from flock_subnet.chain.base import RAO_PER_TAO, U16_MAX
from flock_subnet.kit.localchain.chain import LocalChain, WallClock
from flock_subnet.rules import consensus
from tests.fixtures.chain import NETUID, TEST_HYPERPARAMETERS, register_neuron

TEMPO = TEST_HYPERPARAMETERS["tempo"]


class Scenario:
    """Two validators with nominators, three miners, the owner; weights change between epochs."""

    def __init__(self, chain: LocalChain, owner: Any, make_wallet: Any) -> None:
        self.chain, self.owner = chain, owner
        w = {name: make_wallet(name) for name in ("v1", "v2", "n1", "n2", "m1", "m2", "m3")}
        self.wallets = w
        self.uid = {}
        self.uid["v1"] = register_neuron(chain, w["v1"], stake_rao=100 * RAO_PER_TAO)
        self.uid["v2"] = register_neuron(chain, w["v2"], stake_rao=50 * RAO_PER_TAO)
        for name in ("m1", "m2", "m3"):
            self.uid[name] = register_neuron(chain, w[name])
        for nominator, validator, amount in (("n1", "v1", 30), ("n2", "v2", 20), ("n1", "v2", 5)):
            chain.fund(w[nominator].coldkeypub.ss58_address, amount * RAO_PER_TAO)
            chain.add_stake(w[nominator], w[validator].hotkey.ss58_address, NETUID, amount * RAO_PER_TAO)
        chain.set_delegate_take(w["v2"], w["v2"].hotkey.ss58_address, 0.09)

    def coldkeys(self) -> set[str]:
        return {w.coldkeypub.ss58_address for w in self.wallets.values()} | {self.owner.coldkeypub.ss58_address}

    def set_weights(self, epoch: int) -> None:
        u = self.uid
        rows = {
            "v1": ([u["m1"], u["m2"], u["m3"]], [0.6, 0.3, 0.1] if epoch < 3 else [0.1, 0.2, 0.7]),
            "v2": ([u["m1"], u["m2"]], [0.5, 0.5]),
        }
        for name, (uids, weights) in rows.items():
            result = self.chain.set_weights(self.wallets[name], NETUID, uids, weights, version_key=0)
            assert result.ok, result.message


def expected_epoch(chain: LocalChain, state: consensus.EpochState, block: int) -> tuple[Any, Any]:
    """Recompute the coming epoch at `block` from what the chain shows now."""
    mg = chain.metagraph(NETUID)
    params = chain.hyperparameters(NETUID)
    extra = params.extra
    stakes: dict[str, dict[str, int]] = {}
    for hotkey, coldkey, amount in chain.stakes(NETUID):
        stakes.setdefault(hotkey, {})[coldkey] = amount
    weights = {
        uid: [(target, round(value * U16_MAX)) for target, value in sorted(row.items())]
        for uid, row in chain.weights(NETUID).items()
    }
    yuma = consensus.YumaParams(
        tempo=params.tempo,
        kappa_u16=extra["kappa"],
        bonds_penalty_u16=extra["bonds_penalty"],
        bonds_moving_average=extra["bonds_moving_average"],
        yuma3=extra["yuma3_enabled"],
        liquid_alpha=extra["liquid_alpha_enabled"],
        alpha_low_u16=extra["alpha_low"],
        alpha_high_u16=extra["alpha_high"],
        alpha_sigmoid_steepness=extra["alpha_sigmoid_steepness"],
        max_allowed_validators=params.max_allowed_validators,
        stake_threshold=extra["stake_threshold"],
        activity_cutoff_factor_milli=extra["activity_cutoff_factor_milli"],
        owner_uid=mg.uid_of(params.owner_hotkey),
    )
    blocks = block - extra["last_epoch_block"]
    pending = consensus.PendingEmission()
    split = consensus.split_block_emission(extra["alpha_emission_per_block"], owner_cut_u16=extra["subnet_owner_cut"])
    for _ in range(blocks):
        pending.add(split)
    result = consensus.run_epoch(
        consensus.EpochInput(
            block=block,
            stakes=[sum(stakes.get(n.hotkey, {}).values()) for n in mg.neurons],
            weights=weights,
            last_update=[n.last_update for n in mg.neurons],
            block_at_registration=[n.block_at_registration for n in mg.neurons],
            rao_emission=pending.epoch_emission,
            n=mg.n,
        ),
        yuma,
        state,
    )
    accounts = consensus.SubnetAccounts(
        hotkey_owner={n.hotkey: n.coldkey for n in mg.neurons},
        alpha_stake=stakes,
        subnet_owner_coldkey=extra["owner_coldkey"],
        subnet_owner_hotkey=params.owner_hotkey,
        delegate_take_u16={n.hotkey: round(chain.delegate_take(n.hotkey) * U16_MAX) for n in mg.neurons},
    )
    hotkeys = mg.hotkeys
    payout = consensus.distribute_epoch(
        pending,
        {hotkeys[i]: result.server_emission_rao[i] for i in range(mg.n)},
        {hotkeys[i]: result.validator_emission_rao[i] for i in range(mg.n)},
        accounts,
    )
    return result, payout


def test_emissions_match_consensus_and_everything_minted_is_credited(local_chain, chain_owner, make_wallet):
    chain = local_chain
    scenario = Scenario(chain, chain_owner, make_wallet)
    issuance_start = chain.total_issuance()
    stake_start = sum(a for _, _, a in chain.stakes(NETUID))
    state = consensus.EpochState(validator_permits=[n.validator_permit for n in chain.metagraph(NETUID).neurons])

    for epoch in range(5):
        if epoch >= 1:  # permits come with the first epoch
            scenario.set_weights(epoch)
        due = chain.next_epoch_block(NETUID)
        chain.advance_to(due - 1)
        result, payout = expected_epoch(chain, state, due)
        state = result.state
        chain.advance(1)
        record = chain.epoch_history(NETUID)[-1]
        assert record.block == due and record.index == epoch

        credited = Counter((p.coldkey, p.hotkey, p.kind, p.amount) for p in record.payouts)
        expected = Counter((c.coldkey, c.hotkey, c.kind, c.amount) for c in payout.credits if c.amount > 0)
        assert credited == expected
        mg = chain.metagraph(NETUID)
        assert [round(n.incentive * U16_MAX) for n in mg.neurons] == result.incentive_u16
        assert [round(n.dividends * U16_MAX) for n in mg.neurons] == result.dividends_u16
        assert [n.emission for n in mg.neurons] == result.emission_rao
        assert [n.validator_permit for n in mg.neurons] == result.new_validator_permits

        assert record.emission == TEMPO * chain.hyperparameters(NETUID).extra["alpha_emission_per_block"]
        assert record.minted == record.total() and record.minted + record.recycled == record.emission
        assert record.total("owner_cut") == payout.owner_cut > 0

    history = chain.epoch_history(NETUID)
    minted = sum(r.minted for r in history)
    stake_now = sum(a for _, _, a in chain.stakes(NETUID))
    assert stake_now - stake_start == minted
    assert chain.total_issuance() == issuance_start + minted
    held_and_free = stake_now + sum(chain.balance(c) for c in scenario.coldkeys())
    assert held_and_free == chain.total_issuance()

    last = history[-1]
    w = scenario.wallets
    v1, n1 = w["v1"], w["n1"]
    assert last.earned(v1.coldkeypub.ss58_address, v1.hotkey.ss58_address, "validator_take") > 0
    assert last.earned(n1.coldkeypub.ss58_address, v1.hotkey.ss58_address) > 0  # a delegator's payout
    assert sum(last.by_hotkey("incentive").values()) > 0
    assert history[0].total("incentive") == 0  # no weights before the first permits


def _run_same_scenario(chain: LocalChain, owner: Any, make_wallet: Any, step: int) -> list[dict]:
    scenario = Scenario(chain, owner, make_wallet)
    chain.advance(TEMPO)
    scenario.set_weights(1)
    target = chain.block() + 4 * TEMPO + 3
    while chain.block() < target:
        chain.advance(min(step, target - chain.block()))
    return [record.to_dict() for record in chain.epoch_history(NETUID)]


def test_catching_up_many_epochs_at_once_equals_running_them_one_block_at_a_time(make_local_chain, chain_owner, make_wallet):
    stepped = _run_same_scenario(make_local_chain("stepped"), chain_owner, make_wallet, step=1)
    jumped = _run_same_scenario(make_local_chain("jumped"), chain_owner, make_wallet, step=10_000)
    assert len(stepped) == 5
    assert stepped == jumped


def test_wall_clock_chain_runs_missed_epochs_lazily_at_their_blocks(tmp_path, chain_owner, make_wallet):
    now = [5_000.0]
    clock = WallClock(block_time=1.0, now=lambda: now[0])
    chain = LocalChain.open(tmp_path / "wall.db", clock=clock)
    chain.create_subnet(chain_owner, NETUID, **TEST_HYPERPARAMETERS)
    validator = make_wallet("v1")
    register_neuron(chain, validator, stake_rao=10 * RAO_PER_TAO)
    now[0] += 3.5 * TEMPO  # nobody touches the chain for three and a half tempos
    reader = LocalChain.open(tmp_path / "wall.db", clock=WallClock(block_time=1.0, now=lambda: now[0]))
    assert reader.block() == int(3.5 * TEMPO)
    history = reader.epoch_history(NETUID)
    assert [r.block for r in history] == [TEMPO, 2 * TEMPO, 3 * TEMPO]
    assert chain.epoch_history(NETUID) == history  # the other process sees the same history
    assert reader.metagraph(NETUID).by_hotkey(validator.hotkey.ss58_address).validator_permit


@pytest.mark.parametrize("tempo", [0])
def test_tempo_zero_runs_no_epochs(make_local_chain, tempo):
    chain = make_local_chain(tempo=tempo)
    chain.advance(50)
    assert chain.epoch_history(NETUID) == []
    assert chain.next_epoch_block(NETUID) is None


def test_permits_go_to_the_top_k_stakes_at_each_epoch(make_local_chain, chain_owner, make_wallet):
    chain = make_local_chain(max_allowed_validators=1)
    big, small, miner = make_wallet("big"), make_wallet("small"), make_wallet("miner")
    register_neuron(chain, big, stake_rao=50 * RAO_PER_TAO)
    register_neuron(chain, small, stake_rao=5 * RAO_PER_TAO)
    miner_uid = register_neuron(chain, miner)
    chain.advance_to(chain.next_epoch_block(NETUID))
    mg = chain.metagraph(NETUID)
    permitted = {n.hotkey for n in mg.neurons if n.validator_permit}
    # the one slot goes to the largest stake; the owner's permit is forced on top of it
    assert permitted == {chain_owner.hotkey.ss58_address, big.hotkey.ss58_address}
    assert chain.set_weights(big, NETUID, [miner_uid], [1.0], 0).ok
    refused = chain.set_weights(small, NETUID, [miner_uid], [1.0], 0)
    assert not refused.ok and refused.error.value == "NeuronNoValidatorPermit"
