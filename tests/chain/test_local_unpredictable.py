"""The local chain cannot be read ahead: block hashes (the seeds of validators' rounds) depend on a
key kept outside the chain file, the files are owner-only, and a missing or foreign key is named."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from flock_subnet.chain.base import ChainError
from flock_subnet.kit.localchain.blockhash import BlockHashKeyError, create_key, key_check, key_path
from flock_subnet.kit.localchain.chain import LocalChain, ManualClock


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def chain_file(tmp_path: Path) -> Path:
    path = tmp_path / "a" / "chain.db"
    with LocalChain.open(path, clock=ManualClock()) as chain:
        chain.advance(20)
    return path


def _copy(chain_file: Path, dest: Path, *, with_key: bool) -> Path:
    dest.mkdir(parents=True)
    copy = dest / chain_file.name
    shutil.copy2(chain_file, copy)
    if with_key:
        shutil.copy2(key_path(chain_file), key_path(copy))
    return copy


def test_the_chain_file_alone_does_not_determine_block_hashes(chain_file: Path, tmp_path: Path) -> None:
    with LocalChain.open(chain_file) as chain:
        genesis, hashes = chain.genesis, [chain.block_hash(b) for b in range(21)]
    assert len(set(hashes)) == 21
    # the obvious derivation from what the file holds is not the hash
    assert hashes[5] != "0x" + hashlib.sha256(f"{genesis}:5".encode()).hexdigest()
    # the key never appears in the chain file
    key = bytes.fromhex(key_path(chain_file).read_text().strip())
    content = chain_file.read_bytes()
    assert key not in content and key.hex().encode() not in content

    # the same chain file with its own key gives the same hashes ...
    twin = _copy(chain_file, tmp_path / "twin", with_key=True)
    with LocalChain.open(twin) as chain:
        assert [chain.block_hash(b) for b in range(21)] == hashes
    # ... and the same file contents with another key give other hashes: they come from the key
    forged = _copy(chain_file, tmp_path / "forged", with_key=False)
    other = create_key(key_path(forged))
    with sqlite3.connect(forged) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'hash_key_check'", (key_check(other, genesis),))
    with LocalChain.open(forged) as chain:
        assert chain.genesis == genesis
        forged_hashes = [chain.block_hash(b) for b in range(21)]
    assert not set(forged_hashes) & set(hashes)


def test_a_future_block_has_no_hash_until_it_exists(chain_file: Path) -> None:
    with LocalChain.open(chain_file) as chain:
        with pytest.raises(ChainError, match="does not exist yet"):
            chain.block_hash(25)
        chain.advance(5)
        assert chain.block_hash(25).startswith("0x")


def test_chain_file_side_files_and_key_are_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0)  # even a permissive umask leaves them private
    try:
        path = tmp_path / "chain.db"
        with LocalChain.open(path, clock=ManualClock()) as chain:
            chain.advance(3)
            files = [path, key_path(path)] + [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
            assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        os.umask(previous)


def test_a_missing_key_is_named_with_what_to_do(chain_file: Path, tmp_path: Path) -> None:
    copy = _copy(chain_file, tmp_path / "nokey", with_key=False)
    with pytest.raises(BlockHashKeyError) as info:
        LocalChain.open(copy)
    assert str(key_path(copy)) in str(info.value) and "localnet init" in str(info.value)


def test_a_key_of_another_chain_is_refused(chain_file: Path, tmp_path: Path) -> None:
    copy = _copy(chain_file, tmp_path / "wrongkey", with_key=False)
    create_key(key_path(copy))
    with pytest.raises(BlockHashKeyError, match="another chain"):
        LocalChain.open(copy)


def test_a_chain_from_before_keys_gets_one_when_opened(chain_file: Path) -> None:
    key_path(chain_file).unlink()
    with sqlite3.connect(chain_file) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'hash_key_check'")
    with LocalChain.open(chain_file) as chain:
        first = chain.block_hash(3)
    assert _mode(key_path(chain_file)) == 0o600
    with LocalChain.open(chain_file) as chain:
        assert chain.block_hash(3) == first
