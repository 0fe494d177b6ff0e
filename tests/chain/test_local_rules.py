"""Local chain rules beyond the port contract: signatures, registration, stake, commitment limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from flock_subnet.chain.base import RAO_PER_TAO, ChainError, ChainErrorCode
from flock_subnet.kit.localchain.chain import LocalChain
from tests.fixtures.chain import NETUID, TEST_HYPERPARAMETERS, register_neuron


@dataclass
class ForgedKey:
    """Claims one address, signs with another key."""

    ss58_address: str
    real: Any

    def sign(self, data: bytes) -> bytes:
        return self.real.sign(data)


@dataclass
class ForgedWallet:
    hotkey: Any
    coldkey: Any
    coldkeypub: Any


def _state(chain: LocalChain) -> tuple:
    mg = chain.metagraph(NETUID)
    return (
        chain.weights(NETUID),
        {k: (v.data, v.block) for k, v in chain.commitments(NETUID).items()},
        tuple((n.uid, n.hotkey, n.last_update, n.stake) for n in mg.neurons),
        chain.stakes(NETUID),
        chain.total_issuance(),
    )


def test_forged_signatures_are_refused_everywhere_and_change_nothing(local_chain, chain_owner, make_wallet):
    victim, attacker = make_wallet("victim"), make_wallet("attacker")
    register_neuron(local_chain, victim, stake_rao=RAO_PER_TAO)
    local_chain.fund(victim.coldkeypub.ss58_address, 5 * RAO_PER_TAO)
    assert local_chain.commit(victim, NETUID, "genuine").ok
    forged_hot = ForgedKey(victim.hotkey.ss58_address, attacker.hotkey)
    forged_cold = ForgedKey(victim.coldkeypub.ss58_address, attacker.coldkey)
    forged = ForgedWallet(hotkey=forged_hot, coldkey=forged_cold, coldkeypub=victim.coldkeypub)
    before = _state(local_chain)
    balance = local_chain.balance(victim.coldkeypub.ss58_address)

    result = local_chain.commit(forged, NETUID, "f1:evil")
    assert not result.ok and result.error is ChainErrorCode.BAD_SIGNATURE
    result = local_chain.set_weights(forged, NETUID, [0], [1.0], version_key=0)
    assert not result.ok and result.error is ChainErrorCode.BAD_SIGNATURE
    for call in (
        lambda: local_chain.add_stake(forged, attacker.hotkey.ss58_address, NETUID, RAO_PER_TAO),
        lambda: local_chain.remove_stake(forged, victim.hotkey.ss58_address, NETUID, RAO_PER_TAO),
        lambda: local_chain.register(ForgedWallet(attacker.hotkey, forged_cold, victim.coldkeypub), NETUID),
        lambda: local_chain.set_hyperparameter(
            ForgedWallet(chain_owner.hotkey, ForgedKey(chain_owner.coldkeypub.ss58_address, attacker.coldkey), None),
            NETUID,
            "tempo",
            99,
        ),
    ):
        with pytest.raises(ChainError) as info:
            call()
        assert info.value.code is ChainErrorCode.BAD_SIGNATURE
    assert _state(local_chain) == before
    assert local_chain.balance(victim.coldkeypub.ss58_address) == balance
    assert local_chain.hyperparameters(NETUID).tempo == TEST_HYPERPARAMETERS["tempo"]


def test_owner_may_set_weights_without_a_permit_and_keeps_a_self_weight(local_chain, chain_owner, make_wallet):
    miner = make_wallet("miner")
    uid = register_neuron(local_chain, miner)
    assert local_chain.set_weights(chain_owner, NETUID, [0, uid], [0.5, 0.5], version_key=0).ok
    assert local_chain.weights(NETUID)[0] == {0: 1.0, uid: 1.0}


def test_miner_may_set_only_a_self_weight_without_a_permit(local_chain, make_wallet):
    miner = make_wallet("miner")
    uid = register_neuron(local_chain, miner)
    assert local_chain.set_weights(miner, NETUID, [uid], [1.0], version_key=0).ok


def test_commit_reveal_on_turns_set_weights_into_a_hidden_commit(local_chain, chain_owner):
    local_chain.set_hyperparameter(chain_owner, NETUID, "commit_reveal_weights_enabled", True)
    assert local_chain.hyperparameters(NETUID).commit_reveal_enabled
    result = local_chain.set_weights(chain_owner, NETUID, [0], [1.0], version_key=0)
    assert result.ok and result.data["committed"] is True
    assert local_chain.weights(NETUID) == {}


def test_registration_burns_and_checks_balance_and_ownership(local_chain, chain_owner, make_wallet):
    burn = TEST_HYPERPARAMETERS["burn"]
    alice, bob = make_wallet("alice"), make_wallet("bob")
    issuance = local_chain.total_issuance()
    with pytest.raises(ChainError) as info:
        local_chain.register(alice, NETUID)
    assert info.value.code is ChainErrorCode.NOT_ENOUGH_BALANCE
    assert local_chain.metagraph(NETUID).n == 1

    local_chain.fund(alice.coldkeypub.ss58_address, burn * 3)
    uid = local_chain.register(alice, NETUID)
    assert uid == 1
    assert local_chain.balance(alice.coldkeypub.ss58_address) == 2 * burn
    assert local_chain.total_issuance() == issuance + 3 * burn - burn
    with pytest.raises(ChainError) as info:
        local_chain.register(alice, NETUID)
    assert info.value.code is ChainErrorCode.ALREADY_REGISTERED

    # bob's coldkey cannot register alice's hotkey, not even on another subnet
    assert local_chain.create_subnet(chain_owner, 2, burn=burn) == 2
    local_chain.fund(bob.coldkeypub.ss58_address, burn)
    with pytest.raises(ChainError) as info:
        local_chain.register(ForgedWallet(alice.hotkey, bob.coldkey, bob.coldkeypub), 2)
    assert info.value.code is ChainErrorCode.NON_ASSOCIATED_COLDKEY
    assert local_chain.balance(bob.coldkeypub.ss58_address) == burn

    with pytest.raises(ChainError) as info:
        local_chain.register(bob, 42)
    assert info.value.code is ChainErrorCode.SUBNET_NOT_FOUND


def test_full_subnet_replaces_the_lowest_pruning_score_even_when_immune(make_local_chain, make_wallet, chain_owner):
    chain = make_local_chain(max_allowed_uids=3, immunity_period=5, tempo=100)
    a, b, c = make_wallet("a"), make_wallet("b"), make_wallet("c")
    uid_a = register_neuron(chain, a)
    chain.advance(1)
    uid_b = register_neuron(chain, b)
    assert (uid_a, uid_b) == (1, 2)
    assert chain.set_weights(chain_owner, NETUID, [uid_a, uid_b], [0.5, 0.5], 0).ok
    # every uid is immune and there are fewer than 10 non-immune ones: pruning falls back to the
    # immune uids (never the owner's), so a full subnet still takes the registration
    uid_c = register_neuron(chain, c)
    assert uid_c == uid_a  # equal (zero) emission: the older registration goes first
    mg = chain.metagraph(NETUID)
    assert mg.n == 3 and mg.by_hotkey(a.hotkey.ss58_address) is None
    assert mg.neuron(uid_c).hotkey == c.hotkey.ss58_address
    assert mg.neuron(uid_c).block_at_registration == chain.block()
    # the owner's weight on the replaced uid stays as an explicit zero
    assert chain.weights(NETUID)[0] == {uid_a: 0.0, uid_b: 1.0}


def test_with_more_than_ten_non_immune_uids_the_immune_ones_are_kept(make_local_chain, make_wallet):
    chain = make_local_chain(max_allowed_uids=13, immunity_period=5, tempo=1000)
    old = [register_neuron(chain, make_wallet(f"old-{i}")) for i in range(11)]  # uids 1..11
    chain.advance(5)
    young = register_neuron(chain, make_wallet("young"))  # uid 12, immune: the subnet is full
    newcomer = register_neuron(chain, make_wallet("newcomer"))
    assert newcomer == old[0]  # 11 non-immune uids: the oldest of them goes, not the immune one
    assert chain.metagraph(NETUID).neuron(young) is not None


def test_new_subnets_default_to_an_immunity_of_5000_blocks(local_chain, chain_owner):
    local_chain.create_subnet(chain_owner, NETUID + 1)
    assert local_chain.hyperparameters(NETUID + 1).immunity_period == 5000


def test_stake_delegation_and_unstake_move_balances_exactly(local_chain, make_wallet):
    validator, nominator = make_wallet("validator"), make_wallet("nominator")
    register_neuron(local_chain, validator, stake_rao=10 * RAO_PER_TAO)
    hotkey = validator.hotkey.ss58_address
    local_chain.fund(nominator.coldkeypub.ss58_address, 7 * RAO_PER_TAO)
    assert local_chain.add_stake(nominator, hotkey, NETUID, 4 * RAO_PER_TAO) == 4 * RAO_PER_TAO
    assert local_chain.balance(nominator.coldkeypub.ss58_address) == 3 * RAO_PER_TAO
    assert local_chain.metagraph(NETUID).by_hotkey(hotkey).stake == 14 * RAO_PER_TAO
    assert local_chain.stake_of(nominator.coldkeypub.ss58_address, hotkey, NETUID) == 4 * RAO_PER_TAO

    with pytest.raises(ChainError) as info:
        local_chain.add_stake(nominator, hotkey, NETUID, 4 * RAO_PER_TAO)
    assert info.value.code is ChainErrorCode.NOT_ENOUGH_BALANCE
    with pytest.raises(ChainError) as info:
        local_chain.remove_stake(nominator, hotkey, NETUID, 5 * RAO_PER_TAO)
    assert info.value.code is ChainErrorCode.NOT_ENOUGH_STAKE_TO_WITHDRAW
    with pytest.raises(ChainError) as info:
        local_chain.add_stake(nominator, nominator.hotkey.ss58_address, NETUID, RAO_PER_TAO)
    assert info.value.code is ChainErrorCode.NOT_REGISTERED

    assert local_chain.remove_stake(nominator, hotkey, NETUID, RAO_PER_TAO) == 3 * RAO_PER_TAO
    assert local_chain.balance(nominator.coldkeypub.ss58_address) == 4 * RAO_PER_TAO
    held = sum(amount for _, _, amount in local_chain.stakes(NETUID))
    free = sum(local_chain.balance(w.coldkeypub.ss58_address) for w in (validator, nominator))
    assert held + free == local_chain.total_issuance()


def test_validator_take_is_capped_and_owner_only(local_chain, make_wallet):
    validator, other = make_wallet("validator"), make_wallet("other")
    register_neuron(local_chain, validator)
    hotkey = validator.hotkey.ss58_address
    assert local_chain.delegate_take(hotkey) == pytest.approx(0.18, abs=1e-4)
    assert local_chain.set_delegate_take(validator, hotkey, 0.09) == round(0.09 * 65535)
    assert local_chain.delegate_take(hotkey) == pytest.approx(0.09, abs=1e-4)
    with pytest.raises(ChainError):
        local_chain.set_delegate_take(validator, hotkey, 0.5)
    with pytest.raises(ChainError) as info:
        local_chain.set_delegate_take(other, hotkey, 0.01)
    assert info.value.code is ChainErrorCode.NON_ASSOCIATED_COLDKEY


def test_commitment_block_rate_limit(make_local_chain, make_wallet):
    chain = make_local_chain(commitment_rate_limit=5)
    miner = make_wallet("miner")
    register_neuron(chain, miner)
    assert chain.commit(miner, NETUID, "one").ok
    chain.advance(2)
    result = chain.commit(miner, NETUID, "two")
    assert result.error is ChainErrorCode.COMMITMENT_RATE_LIMITED and result.error.is_rate_limit
    assert result.retry_after_blocks == 3
    assert chain.commitments(NETUID)[miner.hotkey.ss58_address].data == "one"
    chain.advance(3)
    assert chain.commit(miner, NETUID, "two").ok


def test_commitment_space_quota_resets_each_tempo(make_local_chain, make_wallet):
    chain = make_local_chain(commitment_max_space=300, tempo=50)
    miner = make_wallet("miner")
    register_neuron(chain, miner)
    for i in range(3):
        assert chain.commit(miner, NETUID, f"c{i}").ok  # each costs at least 100 bytes
    result = chain.commit(miner, NETUID, "c3")
    assert result.error is ChainErrorCode.COMMITMENT_SPACE_EXCEEDED
    assert result.retry_after_blocks == chain.next_epoch_block(NETUID) - chain.block()
    assert chain.commitments(NETUID)[miner.hotkey.ss58_address].data == "c2"
    chain.advance(result.retry_after_blocks)
    assert chain.commit(miner, NETUID, "c3").ok


def test_hyperparameter_changes_are_owner_only_and_validated(local_chain, chain_owner, make_wallet):
    stranger = make_wallet("stranger")
    with pytest.raises(ChainError) as info:
        local_chain.set_hyperparameter(stranger, NETUID, "tempo", 3)
    assert info.value.code is ChainErrorCode.BAD_ORIGIN
    with pytest.raises(ChainError, match="unknown hyperparameter"):
        local_chain.set_hyperparameter(chain_owner, NETUID, "no_such_thing", 3)
    with pytest.raises(ChainError, match="between"):
        local_chain.set_hyperparameter(chain_owner, NETUID, "max_weight_limit", 70_000)
    with pytest.raises(ChainError, match="true or false"):
        local_chain.set_hyperparameter(chain_owner, NETUID, "commit_reveal_enabled", "maybe")
    assert local_chain.set_hyperparameter(chain_owner, NETUID, "weights_version_key", "12") == 12
    assert local_chain.hyperparameters(NETUID).weights_version == 12
