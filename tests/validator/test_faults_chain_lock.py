"""A chain whose write lock another process holds: the round is scored and kept, its weights wait
for the lock, and they are set once."""

from __future__ import annotations

import sqlite3

from flock_subnet.kit.localchain import store
from flock_subnet.validator.report import EvalStatus
from tests.fixtures.chain import NETUID


def test_a_chain_write_lock_delays_the_weights_and_loses_nothing(make_subnet, local_base_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)  # the chain gives up on a lock after 0.2 s, not 60 s
    subnet = make_subnet()
    subnet.add_validator("val")
    miner = subnet.add_miner("miner")
    subnet.publish("miner", "alice", local_base_dir, "tiny-locked")
    subnet.advance_to_next_round()

    locker = sqlite3.connect(subnet.chain.path, timeout=5)  # another process writing to the chain file
    locker.execute("BEGIN IMMEDIATE")
    validator = subnet.validator("val", tmp_path / "val", eval_samples=8)
    try:
        report = validator.run_round()
        assert report.uids[miner].status == EvalStatus.EVALUATED  # reads go on; the miner is not blamed
        assert not report.weights_set and "chain unavailable" in report.weights_message
        assert validator.state.pending_weights() is not None and validator.state.eval_count() == 1
        assert validator.state.last_weights() is None
        assert not validator.state.faults(kind="miner")
        assert report.uids[miner].held_rounds == 0

        # still locked: the next pass tries again and fails again, nothing is lost
        assert not validator.run_round().weights_set
        locker.rollback()
        locker.close()

        retry = validator.run_round()  # no new round is due: only the weights are retried
        assert retry.weights_set and not retry.ran
        on_chain = subnet.chain.weights(NETUID)[subnet.uids["val"]]
        assert on_chain[miner] > 0
        again = validator.run_round()
        assert not again.weights_set and "already set" in again.weights_message  # once per round
        assert len(validator.state.weight_sets(ok_only=True)) == 1
    finally:
        validator.close()
