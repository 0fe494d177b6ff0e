"""Uids that change hands: a commitment left by an earlier registration of a hotkey is not evaluated.

On chain a commitment survives deregistration, so a hotkey that is pruned and registers again
still shows its old commitment with its old block. The validator ignores a commitment older
than the hotkey's registration block.
"""

from __future__ import annotations

from flock_subnet.validator.plan import PlanStatus
from tests.fixtures.chain import NETUID, register_neuron


def test_a_commitment_older_than_the_registration_is_not_evaluated(make_subnet, chain_owner, local_base_dir, tmp_path):
    subnet = make_subnet(max_allowed_uids=3, immunity_period=0)
    subnet.add_miner("returning")
    subnet.publish("returning", "alice", local_base_dir, "tiny-old")  # a valid model, committed
    hotkey = subnet.wallets["returning"].hotkey.ss58_address
    committed_at = subnet.chain.commitments(NETUID)[hotkey].block
    subnet.add_validator("val")  # the subnet is full now: owner, returning, val

    intruder = subnet.make_wallet("intruder")
    register_neuron(subnet.chain, intruder)  # prunes the oldest registration without emission
    assert subnet.chain.metagraph(NETUID).by_hotkey(hotkey) is None
    assert subnet.chain.commitments(NETUID)[hotkey].block == committed_at  # the commitment outlived it

    subnet.chain.set_hyperparameter(chain_owner, NETUID, "max_allowed_uids", 4)  # room to come back
    subnet.advance_to_next_round()
    new_uid = register_neuron(subnet.chain, subnet.wallets["returning"])
    registered_at = subnet.chain.metagraph(NETUID).neuron(new_uid).block_at_registration
    assert registered_at > committed_at

    validator = subnet.validator("val", tmp_path / "val")
    try:
        report = validator.run_round()
        row = report.uids[new_uid]
        assert row.status == PlanStatus.NO_COMMITMENT
        assert f"block {committed_at}" in row.detail and "predates" in row.detail
        assert row.weight == 0.0
        assert validator.models.downloads == 0 and validator.state.eval_count() == 0  # never fetched or evaluated
    finally:
        validator.close()
