"""Block clocks, block hashes and opening chain files."""

from __future__ import annotations

import re
import sqlite3

import pytest

from flock_subnet.chain.base import ChainError
from flock_subnet.commands.wiring import open_chain
from flock_subnet.config import ChainSettings
from flock_subnet.errors import FlockError
from flock_subnet.kit.localchain.chain import LocalChain, LocalChainMissing, ManualClock, WallClock
from flock_subnet.kit.localchain.store import SCHEMA_VERSION


class FakeTime:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def test_wall_clock_counts_blocks_from_genesis(tmp_path):
    now = FakeTime()
    chain = LocalChain.open(tmp_path / "c.db", clock=WallClock(block_time=2.0, now=now))
    assert chain.block() == 0 and chain.clock_kind == "wall" and chain.block_time == 2.0
    now.t += 5.9
    assert chain.block() == 2
    # another process opening the same file (same time source) sees the same block
    other = LocalChain.open(tmp_path / "c.db", clock=WallClock(block_time=99.0, now=now))
    assert other.block() == 2 and other.block_time == 2.0
    with pytest.raises(FlockError, match="wall clock"):
        chain.advance(1)
    chain.close()
    other.close()


def test_manual_clock_moves_only_when_advanced(tmp_path):
    chain = LocalChain.open(tmp_path / "c.db", clock=ManualClock(start_block=10))
    assert chain.block() == 10
    assert chain.advance(5) == 15
    again = LocalChain.open(tmp_path / "c.db")
    assert again.block() == 15 and again.clock_kind == "manual"
    assert again.advance_to(20) == 20 and chain.block() == 20
    with pytest.raises(FlockError):
        chain.advance(-1)


def test_block_hashes_are_deterministic_per_chain(tmp_path):
    a = LocalChain.open(tmp_path / "a.db", clock=ManualClock())
    b = LocalChain.open(tmp_path / "b.db", clock=ManualClock())
    a.advance(3)
    b.advance(3)
    assert re.fullmatch(r"0x[0-9a-f]{64}", a.block_hash(3))
    assert a.block_hash(3) == LocalChain.open(tmp_path / "a.db").block_hash(3)
    assert a.block_hash(3) != a.block_hash(2)
    assert a.block_hash(3) != b.block_hash(3)
    with pytest.raises(ChainError):
        a.block_hash(4)
    with pytest.raises(ChainError):
        a.block_hash(-1)


def test_missing_chain_file_says_how_to_create_one(tmp_path):
    path = tmp_path / "nowhere" / "chain.db"
    with pytest.raises(LocalChainMissing, match="localnet init"):
        LocalChain.open(path)
    with pytest.raises(LocalChainMissing):
        open_chain(ChainSettings(network="embedded", localchain_path=str(path)))
    assert not path.exists()


def test_open_chain_picks_the_local_chain_from_settings(local_chain):
    path = local_chain.path
    for settings in (
        ChainSettings(chain_endpoint=f"file://{path}"),
        ChainSettings(network="embedded", localchain_path=str(path)),
    ):
        with open_chain(settings) as chain:
            assert isinstance(chain, LocalChain)
            assert chain.genesis == local_chain.genesis
            assert chain.metagraph(1).n == 1


def _set_user_version(path, version: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {version}")


def test_chain_file_from_before_versioned_schemas_still_opens(tmp_path):
    path = tmp_path / "old.db"
    chain = LocalChain.open(path, clock=ManualClock(start_block=7))
    chain.advance(3)
    genesis = chain.genesis
    chain.close()
    _set_user_version(path, 0)  # older code kept the version only in meta.schema_version
    reopened = LocalChain.open(path)
    assert reopened.genesis == genesis and reopened.block() == 10
    reopened.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_chain_file_from_a_newer_version_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "new.db"
    LocalChain.open(path, clock=ManualClock()).close()
    _set_user_version(path, SCHEMA_VERSION + 1)
    with pytest.raises(FlockError, match="upgrade flock-subnet .* localnet init"):
        LocalChain.open(path)


def test_chain_file_with_another_meta_version_is_refused(tmp_path):
    path = tmp_path / "odd.db"
    LocalChain.open(path, clock=ManualClock()).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(FlockError, match="create a new chain file"):
        LocalChain.open(path)
