"""SQLite plumbing shared by every store: open a file, run transactions, keep its schema versioned.

`Database.open(path, schema)` connects in WAL mode with a busy timeout, then brings the file to
`schema.version` by running the missing steps of `schema.steps` (one transaction per step); the
version lives in `PRAGMA user_version`. A file written by a newer version of the code is refused
with `SchemaTooNew`, whose message says what to do.

Transactions: `with db.transaction() as conn:` takes the write lock up front (`BEGIN IMMEDIATE`,
so two writers never deadlock on a lock upgrade) and commits when the block ends, or rolls back
if it raises. Nesting is by savepoint: an inner `transaction()` that raises undoes only its own
changes (its exception still propagates); what it wrote becomes durable only when the outermost
transaction commits. `with db.read() as conn:` reads a consistent snapshot without the write lock.

One `Database` is one connection behind a re-entrant lock, so threads may share it; a
transaction holds the lock until it ends, and other threads wait for it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flock_subnet.errors import FlockError

Step = Callable[[sqlite3.Connection], None]


class DatabaseError(FlockError):
    """A store's SQLite file cannot be used; the message says what to do."""


class CannotOpen(DatabaseError):
    """The file is not a usable SQLite database, or cannot be opened at all."""


class DatabaseBusy(DatabaseError):
    """Another connection held the write lock for longer than the busy timeout."""


class SchemaTooNew(DatabaseError):
    """The file was written by a newer version of flock-subnet than this one."""


@dataclass(frozen=True)
class Schema:
    """A store's schema history: `steps[i]` upgrades a file from version i to i + 1.

    `name` names the store in messages ("validator state"); `fresh_start` tells the user how to
    get a new file when this one was written by a newer version of the code.
    """

    name: str
    steps: tuple[Step, ...]
    fresh_start: str

    @property
    def version(self) -> int:
        return len(self.steps)


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run `;`-separated statements one by one (no `;` inside a statement, so no triggers).

    `executescript` would commit the surrounding transaction first; this keeps a step atomic.
    """
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


class Database:
    """One connection to a store's file, with transactions and schema versions."""

    def __init__(self, conn: sqlite3.Connection, path: Path, schema: Schema) -> None:
        self.conn = conn
        self.path = path
        self.schema = schema
        self._lock = threading.RLock()
        self._depth = 0
        self._reading = False

    @classmethod
    def open(
        cls,
        path: str | Path,
        schema: Schema,
        *,
        busy_timeout_s: float = 30.0,
        foreign_keys: bool = False,
        shared_between_threads: bool = True,
        row_factory: Any = sqlite3.Row,
    ) -> Database:
        """Connect to `path` (created if missing) and migrate it to `schema.version`.

        Raises `CannotOpen` when the file is not a database or cannot be opened, `DatabaseBusy`
        when another process holds it past the busy timeout, `SchemaTooNew` for a newer file.
        """
        path = Path(path)
        try:
            conn = sqlite3.connect(
                str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=not shared_between_threads
            )
        except sqlite3.Error as exc:
            raise _unusable(schema, path, exc) from exc
        try:
            conn.row_factory = row_factory
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        except sqlite3.Error as exc:
            conn.close()
            raise _unusable(schema, path, exc) from exc
        db = cls(conn, path, schema)
        try:
            db.migrate()
        except BaseException:
            conn.close()
            raise
        return db

    # --- schema versions ---------------------------------------------------------------------

    @property
    def version(self) -> int:
        """The schema version written in the file."""
        return int(self.query_one("PRAGMA user_version")[0])

    def migrate(self) -> int:
        """Run the schema steps the file is missing; returns how many ran (0 when up to date).

        Each step runs in its own transaction and re-reads the version under the write lock, so
        several processes opening an old file at once run every step exactly once.
        """
        self._check_not_newer(self.version)
        ran = 0
        while self.version < self.schema.version:
            with self.transaction() as conn:
                found = self.version
                self._check_not_newer(found)
                if found >= self.schema.version:
                    break
                self.schema.steps[found](conn)
                conn.execute(f"PRAGMA user_version = {found + 1}")
                ran += 1
        return ran

    def _check_not_newer(self, found: int) -> None:
        if found > self.schema.version:
            raise SchemaTooNew(
                f"{self.path} has {self.schema.name} schema {found} but this flock-subnet knows up to "
                f"{self.schema.version}; upgrade flock-subnet (git pull, then reinstall) or "
                f"{self.schema.fresh_start}"
            )

    # --- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (`BEGIN IMMEDIATE`); nested ones are savepoints (see the module doc)."""
        with self._lock:
            if self._reading:
                raise DatabaseError(
                    f"a write transaction on {self.path} cannot start inside read(); open the write first"
                )
            depth = self._depth
            savepoint = f"sp{depth}"
            try:
                self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
            except sqlite3.Error as exc:
                raise _unusable(self.schema, self.path, exc) from exc
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if self.conn.in_transaction:  # an error inside SQLite may have rolled back already
                    if depth == 0:
                        self.conn.execute("ROLLBACK")
                    else:
                        self.conn.execute(f"ROLLBACK TO {savepoint}")
                        self.conn.execute(f"RELEASE {savepoint}")
                raise
            self._depth -= 1
            if depth > 0:
                self.conn.execute(f"RELEASE {savepoint}")
                return
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error:
                if self.conn.in_transaction:  # a failed COMMIT leaves the transaction open
                    self.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads (inside a transaction: that transaction's view)."""
        with self._lock:
            if self._depth > 0 or self._reading:
                yield self.conn
                return
            try:
                self.conn.execute("BEGIN")
            except sqlite3.Error as exc:
                raise _unusable(self.schema, self.path, exc) from exc
            self._reading = True
            try:
                yield self.conn
            finally:
                self._reading = False
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

    # --- queries -----------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of one statement, run under the lock."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of one statement, or None."""
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            self.conn.close()


_LOCK_CODES = {getattr(sqlite3, "SQLITE_BUSY", 5), getattr(sqlite3, "SQLITE_LOCKED", 6)}


def is_locked(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused because another connection holds a lock (by its error code; on
    Python 3.10, which does not expose the code, by SQLite's own fixed message)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _LOCK_CODES
    return str(exc).startswith(("database is locked", "database table is locked"))


def _unusable(schema: Schema, path: Path, exc: sqlite3.Error) -> DatabaseError:
    """The error to raise when SQLite refuses to open or lock the file, with what to do about it."""
    if not isinstance(exc, sqlite3.OperationalError):
        return CannotOpen(
            f"cannot open the {schema.name} {path}: {exc}; it is not a usable SQLite file, "
            "move the file away to start fresh"
        )
    if is_locked(exc):
        return DatabaseBusy(
            f"the {schema.name} {path} is locked by another process: {exc}; wait for it to finish or stop it"
        )
    return CannotOpen(f"cannot open the {schema.name} {path}: {exc}; check that its folder exists and is writable")
