"""The local chain's storage: one SQLite file shared safely by several processes.

WAL journaling lets readers run while one writer writes; every write is one `BEGIN IMMEDIATE`
transaction (taken up front, so two writers never deadlock on a lock upgrade) with a long busy
timeout, so a miner and two validators on one box can call the chain at the same time without
corrupting it or losing a write (`flock_subnet.sqlitedb` does the connection and transactions).
This module only knows tables and small row helpers; the rules live in `ops.py` and `epoch.py`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flock_subnet.chain.base import ChainUnavailable
from flock_subnet.sqlitedb import CannotOpen, Database, DatabaseBusy, Schema, run_script

BUSY_TIMEOUT_MS = 60_000

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS balances (coldkey TEXT PRIMARY KEY, free INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hotkey_owner (hotkey TEXT PRIMARY KEY, coldkey TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delegate_take (hotkey TEXT PRIMARY KEY, take_u16 INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS subnets (
    netuid INTEGER PRIMARY KEY,
    owner_coldkey TEXT NOT NULL,
    owner_hotkey TEXT NOT NULL,
    created_block INTEGER NOT NULL,
    last_epoch_block INTEGER NOT NULL,
    epoch_index INTEGER NOT NULL DEFAULT 0,
    hyperparameters TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS neurons (
    netuid INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    coldkey TEXT NOT NULL,
    block_at_registration INTEGER NOT NULL,
    last_update INTEGER NOT NULL,
    validator_permit INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    consensus INTEGER NOT NULL DEFAULT 0,
    incentive INTEGER NOT NULL DEFAULT 0,
    dividends INTEGER NOT NULL DEFAULT 0,
    validator_trust INTEGER NOT NULL DEFAULT 0,
    emission INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (netuid, uid),
    UNIQUE (netuid, hotkey)
);
CREATE TABLE IF NOT EXISTS stakes (
    netuid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    coldkey TEXT NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (netuid, hotkey, coldkey)
);
CREATE TABLE IF NOT EXISTS weights (
    netuid INTEGER NOT NULL, uid INTEGER NOT NULL, target INTEGER NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (netuid, uid, target)
);
CREATE TABLE IF NOT EXISTS bonds (
    netuid INTEGER NOT NULL, uid INTEGER NOT NULL, target INTEGER NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (netuid, uid, target)
);
CREATE TABLE IF NOT EXISTS commitments (
    netuid INTEGER NOT NULL, hotkey TEXT NOT NULL, data TEXT NOT NULL, block INTEGER NOT NULL,
    PRIMARY KEY (netuid, hotkey)
);
CREATE TABLE IF NOT EXISTS commitment_space (
    netuid INTEGER NOT NULL, hotkey TEXT NOT NULL, epoch_index INTEGER NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (netuid, hotkey)
);
CREATE TABLE IF NOT EXISTS epochs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    netuid INTEGER NOT NULL,
    block INTEGER NOT NULL,
    epoch_index INTEGER NOT NULL,
    blocks INTEGER NOT NULL,
    emission INTEGER NOT NULL,
    owner_cut INTEGER NOT NULL,
    server_pending INTEGER NOT NULL,
    validator_pending INTEGER NOT NULL,
    minted INTEGER NOT NULL,
    recycled INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS epochs_by_subnet ON epochs (netuid, block);
CREATE TABLE IF NOT EXISTS payouts (
    epoch_id INTEGER NOT NULL,
    netuid INTEGER NOT NULL,
    uid INTEGER,
    hotkey TEXT,
    coldkey TEXT,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS payouts_by_epoch ON payouts (epoch_id);
"""


def _create_tables(conn: sqlite3.Connection) -> None:
    run_script(conn, _TABLES)


def _add_weight_commits(conn: sqlite3.Connection) -> None:
    """Version 2: hidden weight commits of commit-reveal subnets, waiting for their reveal epoch."""
    run_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS weight_commits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            netuid INTEGER NOT NULL, uid INTEGER NOT NULL, hotkey TEXT NOT NULL,
            commit_block INTEGER NOT NULL, reveal_epoch INTEGER NOT NULL,
            uids TEXT NOT NULL, weights TEXT NOT NULL, version_key INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS weight_commits_by_reveal ON weight_commits (netuid, reveal_epoch, id);
        """,
    )


def _add_root_network(conn: sqlite3.Connection) -> None:
    """Version 3: TAO staked on the root network per (hotkey, coldkey), root dividends waiting to be
    claimed per (subnet, hotkey, coldkey) in alpha, and the dynamic-TAO terms each epoch ran with."""
    run_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS root_stakes (
            hotkey TEXT NOT NULL, coldkey TEXT NOT NULL, amount INTEGER NOT NULL, PRIMARY KEY (hotkey, coldkey)
        );
        CREATE TABLE IF NOT EXISTS root_claimable (
            netuid INTEGER NOT NULL, hotkey TEXT NOT NULL, coldkey TEXT NOT NULL, alpha INTEGER NOT NULL,
            PRIMARY KEY (netuid, hotkey, coldkey)
        )
        """,
    )
    present = {str(row[1]) for row in conn.execute("PRAGMA table_info(epochs)")}  # files from before versions
    for column, default in (("root_proportion", 0), ("tao_weight", 0), ("alpha_price", 1)):
        if column not in present:
            conn.execute(f"ALTER TABLE epochs ADD COLUMN {column} REAL NOT NULL DEFAULT {default}")


# Version 1's tables are created with IF NOT EXISTS: chain files written before the version moved
# to `PRAGMA user_version` (it is also kept in `meta.schema_version`) pass through step 1 unchanged.
SCHEMA = Schema(
    name="local chain",
    steps=(_create_tables, _add_weight_commits, _add_root_network),
    fresh_start="create a new chain file with `flock-subnet localnet init`",
)
SCHEMA_VERSION = SCHEMA.version


class Store:
    """A connection to the chain file with read and write transactions (thread-safe per object)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._db = Database.open(self.path, SCHEMA, busy_timeout_s=BUSY_TIMEOUT_MS / 1000)
        except (CannotOpen, DatabaseBusy) as exc:
            raise ChainUnavailable(str(exc)) from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One serialised write transaction; rolled back if the body raises."""
        try:
            with self._db.transaction() as conn:
                yield conn
        except (CannotOpen, DatabaseBusy) as exc:
            raise ChainUnavailable(str(exc)) from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        try:
            with self._db.read() as conn:
                yield conn
        except (CannotOpen, DatabaseBusy) as exc:
            raise ChainUnavailable(str(exc)) from exc

    def close(self) -> None:
        self._db.close()


def get_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return default if row is None else row[0]


def set_meta(conn: sqlite3.Connection, key: str, value: object) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, str(value)),
    )


def add_balance(conn: sqlite3.Connection, coldkey: str, delta: int) -> int:
    """Change a coldkey's free balance by `delta` (callers check it never goes negative)."""
    conn.execute(
        "INSERT INTO balances (coldkey, free) VALUES (?, ?) ON CONFLICT(coldkey) DO UPDATE SET free = free + ?",
        (coldkey, delta, delta),
    )
    return balance_of(conn, coldkey)


def balance_of(conn: sqlite3.Connection, coldkey: str) -> int:
    row = conn.execute("SELECT free FROM balances WHERE coldkey = ?", (coldkey,)).fetchone()
    return 0 if row is None else int(row[0])


def add_stake(conn: sqlite3.Connection, netuid: int, hotkey: str, coldkey: str, delta: int) -> None:
    conn.execute(
        "INSERT INTO stakes (netuid, hotkey, coldkey, amount) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(netuid, hotkey, coldkey) DO UPDATE SET amount = amount + ?",
        (netuid, hotkey, coldkey, delta, delta),
    )
    conn.execute(
        "DELETE FROM stakes WHERE netuid = ? AND hotkey = ? AND coldkey = ? AND amount = 0", (netuid, hotkey, coldkey)
    )


def stake_of(conn: sqlite3.Connection, netuid: int, hotkey: str, coldkey: str) -> int:
    row = conn.execute(
        "SELECT amount FROM stakes WHERE netuid = ? AND hotkey = ? AND coldkey = ?", (netuid, hotkey, coldkey)
    ).fetchone()
    return 0 if row is None else int(row[0])


def hotkey_stakes(conn: sqlite3.Connection, netuid: int, hotkey: str) -> list[tuple[str, int]]:
    """(coldkey, amount) of everyone staked on `hotkey`, ordered by coldkey (the chain's key order)."""
    rows = conn.execute(
        "SELECT coldkey, amount FROM stakes WHERE netuid = ? AND hotkey = ? AND amount > 0 ORDER BY coldkey",
        (netuid, hotkey),
    ).fetchall()
    return [(str(c), int(a)) for c, a in rows]


def total_hotkey_stake(conn: sqlite3.Connection, netuid: int, hotkey: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM stakes WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)
    ).fetchone()
    return int(row[0])
