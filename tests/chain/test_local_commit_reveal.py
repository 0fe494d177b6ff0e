"""Commit-reveal on the local chain: hidden commits, reveals at the epoch, epochs on revealed rows."""

from __future__ import annotations

import sqlite3

from flock_subnet.chain.base import ChainErrorCode
from flock_subnet.kit.localchain.chain import LocalChain
from tests.fixtures.chain import NETUID, register_neuron, register_validator


def _epoch_boundary(chain: LocalChain) -> None:
    chain.advance_to(chain.next_epoch_block(NETUID))


def test_epochs_count_revealed_weights_only(make_local_chain, make_wallet):
    chain = make_local_chain("cr", commit_reveal_enabled=True)
    validator = make_wallet("validator")
    vuid = register_validator(chain, validator)
    miner = register_neuron(chain, make_wallet("miner"))
    chain.advance(1)  # weights from the miner's registration block would count as outdated
    result = chain.set_weights(validator, NETUID, [miner], [1.0], version_key=0)
    assert result.ok and result.data["committed"] is True
    (pending,) = chain.weight_commits(NETUID)
    assert pending["uid"] == vuid and pending["commit_block"] == chain.block()
    assert "weights" not in pending  # hidden until the reveal
    _epoch_boundary(chain)  # this epoch runs before the reveal: the row is not there yet
    assert chain.metagraph(NETUID).neuron(miner).incentive == 0.0
    assert chain.weight_commits(NETUID) == [] and vuid in chain.weights(NETUID)
    _epoch_boundary(chain)  # the next one counts the revealed row
    assert chain.metagraph(NETUID).neuron(miner).incentive > 0.0


def test_commits_keep_the_rate_limit_with_their_own_error(make_local_chain, make_wallet):
    chain = make_local_chain("cr-rate", commit_reveal_enabled=True, weights_rate_limit=5)
    validator = make_wallet("validator")
    register_validator(chain, validator)
    miner = register_neuron(chain, make_wallet("miner"))
    chain.advance(5)
    assert chain.set_weights(validator, NETUID, [miner], [1.0], version_key=0).ok
    again = chain.set_weights(validator, NETUID, [miner], [1.0], version_key=0)
    assert again.error is ChainErrorCode.COMMITTING_WEIGHTS_TOO_FAST and again.retry_after_blocks == 5
    assert len(chain.weight_commits(NETUID)) == 1


def test_a_commit_of_a_hotkey_gone_before_its_reveal_is_dropped(make_local_chain, make_wallet, chain_owner):
    chain = make_local_chain("cr-gone", commit_reveal_enabled=True, max_allowed_uids=3, immunity_period=0)
    miner = make_wallet("miner")
    muid = register_neuron(chain, miner)
    assert chain.set_weights(miner, NETUID, [muid], [1.0], version_key=0).ok  # a lone self-weight
    register_neuron(chain, make_wallet("other"))
    register_neuron(chain, make_wallet("newcomer"))  # the subnet is full: the lowest non-immune uid goes
    assert chain.metagraph(NETUID).by_hotkey(miner.hotkey.ss58_address) is None
    _epoch_boundary(chain)
    assert chain.weight_commits(NETUID) == []
    assert chain.weights(NETUID).get(muid, {}) == {}


def test_a_chain_file_from_before_commit_reveal_opens_and_commits(tmp_path, make_wallet, chain_owner):
    path = tmp_path / "old.db"
    with LocalChain.open(path, create=True) as chain:
        chain.create_subnet(chain_owner, NETUID, tempo=10, weights_rate_limit=0, burn=10**6)
    db = sqlite3.connect(path)
    db.execute("DROP TABLE weight_commits")
    db.execute("PRAGMA user_version = 1")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with LocalChain.open(path) as chain:
        chain.set_hyperparameter(chain_owner, NETUID, "commit_reveal_enabled", True)
        result = chain.set_weights(chain_owner, NETUID, [0], [1.0], version_key=0)
        assert result.ok and result.data["committed"] is True
        assert len(chain.weight_commits(NETUID)) == 1
