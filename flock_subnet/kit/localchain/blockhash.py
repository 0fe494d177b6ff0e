"""Block hashes nobody can compute ahead of time from the chain file.

Validators seed each round's hidden samples with the hash of the round's first block, so a
hash must be unknowable before its block exists. The local chain derives it as
`HMAC-SHA256(key, "<genesis>:<block>")` with a 32-byte key kept in its own file next to the
chain file (`<chain file>.key`, owner-only), never inside the chain file: a copy of the chain
file, or anyone who can read it but not the key, cannot tell the hash of any block. The chain
only answers for blocks that exist (`LocalChain.block_hash` refuses a future block).

The chain file stores `HMAC(key, "key-check:<genesis>")` so that a key from another chain is
recognised instead of silently producing other hashes; the check reveals nothing about the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from flock_subnet.errors import FlockError

KEY_BYTES = 32
OWNER_ONLY = 0o600


class BlockHashKeyError(FlockError):
    """The chain's block-hash key is missing, unreadable or belongs to another chain."""


def key_path(chain_path: Path) -> Path:
    """Where the key of the chain file at `chain_path` lives."""
    return chain_path.with_name(chain_path.name + ".key")


def create_key(path: Path) -> bytes:
    """Write a fresh random key to `path` (owner-only, replacing any older file atomically)."""
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key.hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return key


def load_key(path: Path, chain_path: Path) -> bytes:
    """The key stored at `path`; `BlockHashKeyError` saying what to do when it cannot be used."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise BlockHashKeyError(
            f"the block-hash key of local chain {chain_path} is missing (expected at {path}); restore that file "
            "from where the chain was created, or start a new chain with `flock-subnet localnet init`"
        ) from None
    except OSError as exc:
        raise BlockHashKeyError(
            f"cannot read the block-hash key {path} of local chain {chain_path} ({exc}); run as the user who "
            "created the chain"
        ) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise BlockHashKeyError(
            f"{path} is not a block-hash key ({KEY_BYTES} bytes in hex expected); restore the chain's own key "
            "file or start a new chain with `flock-subnet localnet init`"
        )
    return key


def key_check(key: bytes, genesis: str) -> str:
    """What the chain file stores to recognise its own key."""
    return hmac.new(key, f"key-check:{genesis}".encode(), hashlib.sha256).hexdigest()


def block_hash(key: bytes, genesis: str, block: int) -> str:
    """The `0x…` hash of `block` on the chain with this genesis id and key."""
    return "0x" + hmac.new(key, f"{genesis}:{int(block)}".encode(), hashlib.sha256).hexdigest()


def restrict_to_owner(chain_path: Path) -> None:
    """Make the chain file and SQLite's side files owner-only."""
    for suffix in ("", "-wal", "-shm"):
        path = chain_path.with_name(chain_path.name + suffix)
        if path.exists():
            os.chmod(path, OWNER_ONLY)


def precreate_owner_only(chain_path: Path) -> None:
    """Create an empty chain file with mode 0600 before SQLite opens it, so its side files (made with
    the main file's mode) are owner-only from the start."""
    try:
        os.close(os.open(chain_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY))
    except FileExistsError:
        pass
