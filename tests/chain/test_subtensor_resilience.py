"""Nothing the SDK raises escapes the subtensor adapter: reads become `ChainUnavailable`, writes a
`ChainResult`, each naming the exception's type with a hint; a locked hotkey is the wallet's problem."""

from __future__ import annotations

import bittensor as bt
import pytest
from bittensor._transport.errors import StorageFunctionNotFound

from flock_subnet.chain.base import ChainErrorCode, ChainUnavailable
from flock_subnet.chain.subtensor import SubtensorChain
from tests.chain.fake_substrate import RAO, FakeSubstrate


class KeyfileError(Exception):
    """Named like the SDK's own keyfile error."""


class LockedWallet:
    """A wallet whose hotkey needs a password nobody can type (no terminal: `input` hits EOF)."""

    name = "locked"

    def __init__(self, error: BaseException) -> None:
        self._error = error

    @property
    def hotkey(self):
        raise self._error

    @property
    def coldkeypub(self):
        raise self._error


@pytest.fixture
def net(tmp_path):
    owner = bt.wallets.create("owner", "default", path=str(tmp_path), use_password=False, on_mnemonic=lambda *_: None)
    fake = FakeSubstrate()
    netuid = fake.create_subnet(owner.hotkeypub.ss58_address, owner.coldkeypub.ss58_address,
                                commit_reveal_weights_enabled=False, weights_rate_limit=0)
    fake.add_stake(owner.hotkeypub.ss58_address, netuid, 10 * RAO)
    chain = SubtensorChain("local", substrate=fake, read_timeout_s=5, write_timeout_s=5)
    yield fake, chain, netuid, owner
    chain.close()


def test_a_node_whose_metadata_lacks_a_storage_item_is_a_retryable_read_failure(net, monkeypatch):
    fake, chain, netuid, _owner = net

    async def missing(*_args, **_kwargs):
        raise StorageFunctionNotFound("Storage function SubtensorModule.Weights not found")

    monkeypatch.setattr(fake, "query_map", missing)
    with pytest.raises(ChainUnavailable) as info:
        chain.weights(netuid)
    assert "StorageFunctionNotFound" in info.value.message and "runtime" in info.value.message
    monkeypatch.undo()
    assert chain.weights(netuid) == {}  # the adapter still works afterwards


def test_an_unexpected_read_error_names_its_type(net, monkeypatch):
    fake, chain, netuid, _owner = net

    async def broken(*_args, **_kwargs):
        raise KeyError("hotkeys")

    monkeypatch.setattr(fake, "runtime_call", broken)
    with pytest.raises(ChainUnavailable, match="KeyError"):
        chain.metagraph(netuid)


def test_an_unexpected_write_error_becomes_a_result(net, monkeypatch):
    fake, chain, netuid, owner = net

    async def broken(*_args, **_kwargs):
        raise RuntimeError("codec exploded")

    monkeypatch.setattr(fake, "submit", broken)
    result = chain.set_weights(owner, netuid, [0], [1.0], version_key=0)
    assert not result.ok and result.error is ChainErrorCode.OTHER
    assert "RuntimeError" in result.message and "codec exploded" in result.message
    commit = chain.commit(owner, netuid, "f1:x")
    assert not commit.ok and "RuntimeError" in commit.message


@pytest.mark.parametrize("error", [EOFError("EOF when reading a line"), KeyfileError("password required")])
def test_a_password_prompt_without_a_terminal_is_a_wallet_problem(net, error):
    fake, chain, netuid, _owner = net
    result = chain.set_weights(LockedWallet(error), netuid, [0], [1.0], version_key=0)
    assert not result.ok and result.error is ChainErrorCode.WALLET_UNUSABLE
    assert "BT_WALLET_PASSWORD" in result.message and type(error).__name__ in result.message
    assert not result.error.is_transient  # not "the chain is down": retrying will not help
    assert fake.submitted == []
