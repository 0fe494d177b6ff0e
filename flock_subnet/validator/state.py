"""The validator's memory: one SQLite file, schema-versioned, every change in a transaction.

What it remembers, so that a restart (even a `kill -9`) loses nothing and repeats nothing:
- evaluation results per (content hash, competition, round) - a model is never re-evaluated
  on the same round's data;
- admission results per (hotkey, revision) - what was downloaded and verified, or why not;
- EMA scores per (competition, uid), with the uid's hotkey (reset when a uid changes hands);
- round progress (which round is running, the per-uid outcome so far);
- the weights this validator last computed and last set (block and vector);
- a fault log (miner faults score zero; validator faults are retried) and a few counters.

The file runs in WAL mode; `transaction()` groups several changes into one atomic commit.
The schema version lives in `PRAGMA user_version`; `MIGRATIONS[i]` upgrades version i to i+1.

Why this file is longer than the usual ~400 lines: it is the schema and every query against
it, kept side by side so a migration and the queries it affects are changed together; each
method is a small accessor for one table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flock_subnet.errors import FlockError


class StateError(FlockError):
    """The state file cannot be used as it is; the message says what to do."""


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # statement by statement: `executescript` would commit the surrounding transaction first
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_to_1(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE eval_results (
            content_hash TEXT NOT NULL, competition_id TEXT NOT NULL, round_block INTEGER NOT NULL,
            seed INTEGER NOT NULL, loss REAL, fault TEXT, samples INTEGER, tokens INTEGER,
            seconds REAL, created_at REAL NOT NULL,
            PRIMARY KEY (content_hash, competition_id, round_block));
        CREATE TABLE admissions (
            hotkey TEXT NOT NULL, revision TEXT NOT NULL, reference TEXT NOT NULL, ok INTEGER NOT NULL,
            reasons TEXT NOT NULL, content_hash TEXT, parameters INTEGER, model_dir TEXT,
            checked_at REAL NOT NULL, PRIMARY KEY (hotkey, revision));
        CREATE TABLE scores (
            competition_id TEXT NOT NULL, uid INTEGER NOT NULL, hotkey TEXT NOT NULL, ema REAL NOT NULL,
            round_block INTEGER NOT NULL, PRIMARY KEY (competition_id, uid));
        CREATE TABLE rounds (
            competition_id TEXT NOT NULL, round_block INTEGER NOT NULL, seed INTEGER NOT NULL,
            status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
            PRIMARY KEY (competition_id, round_block));
        CREATE TABLE round_uids (
            competition_id TEXT NOT NULL, round_block INTEGER NOT NULL, uid INTEGER NOT NULL,
            hotkey TEXT, status TEXT NOT NULL, loss REAL, detail TEXT,
            PRIMARY KEY (competition_id, round_block, uid));
        CREATE TABLE weight_sets (
            id INTEGER PRIMARY KEY AUTOINCREMENT, block INTEGER, round_block INTEGER,
            uids TEXT NOT NULL, weights TEXT NOT NULL, ok INTEGER NOT NULL, message TEXT,
            created_at REAL NOT NULL);
        CREATE TABLE faults (
            id INTEGER PRIMARY KEY AUTOINCREMENT, round_block INTEGER, competition_id TEXT,
            uid INTEGER, hotkey TEXT, kind TEXT NOT NULL, reason TEXT NOT NULL, created_at REAL NOT NULL);
        CREATE INDEX faults_by_uid ON faults (uid, id);
        """
    )


def _migrate_to_2(db: sqlite3.Connection) -> None:
    """Version 2: per-task losses and throughput in evaluations, version keys, counters, pending weights."""
    _run_script(
        db,
        """
        ALTER TABLE eval_results ADD COLUMN per_task TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE eval_results ADD COLUMN tokens_per_s REAL;
        ALTER TABLE weight_sets ADD COLUMN version_key INTEGER;
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE pending_weights (
            id INTEGER PRIMARY KEY CHECK (id = 1), round_block INTEGER NOT NULL,
            weights TEXT NOT NULL, created_at REAL NOT NULL);
        """
    )


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migrate_to_1, _migrate_to_2)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class EvalRecord:
    """One model's evaluation on one round's hidden data (`loss` None with `fault` = its model failed)."""

    content_hash: str
    competition_id: str
    round_block: int
    seed: int
    loss: float | None
    fault: str | None = None
    samples: int = 0
    tokens: int = 0
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    per_task: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AdmissionRecord:
    """The outcome of admitting one committed reference (`reference` is the commitment text)."""

    hotkey: str
    revision: str
    reference: str
    ok: bool
    reasons: list[str]
    content_hash: str | None
    parameters: int | None
    model_dir: str | None


@dataclass(frozen=True)
class WeightSet:
    """One attempt to set weights: the vector sent and the chain's answer."""

    block: int | None
    round_block: int | None
    uids: list[int]
    weights: list[float]
    ok: bool
    message: str = ""
    version_key: int | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class RoundProgress:
    competition_id: str
    round_block: int
    seed: int
    status: str  # "in_progress" or "done"
    started_at: float
    finished_at: float | None


@dataclass(frozen=True)
class FaultRecord:
    round_block: int | None
    competition_id: str | None
    uid: int | None
    hotkey: str | None
    kind: str  # "miner" or "validator"
    reason: str
    created_at: float


class ValidatorState:
    """Access to the state file; safe to share between threads (one lock, one connection)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"cannot open validator state {self.path}: {exc}; move the file away to start fresh") from exc
        self._lock = threading.RLock()
        self._depth = 0
        self._migrate()

    # --- plumbing -----------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} has state schema {version} but this flock-subnet knows {SCHEMA_VERSION}; "
                "upgrade flock-subnet or point the validator at another state folder"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                MIGRATIONS[target - 1](self._db)
                self._db.execute(f"PRAGMA user_version = {target}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All changes inside the block commit together or not at all (re-entrant)."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._db
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            return cursor.fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "ValidatorState":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- evaluation cache ---------------------------------------------------------------------

    def get_eval(self, content_hash: str, competition_id: str, round_block: int) -> EvalRecord | None:
        rows = self._query(
            "SELECT content_hash, competition_id, round_block, seed, loss, fault, samples, tokens, seconds, "
            "tokens_per_s, per_task FROM eval_results WHERE content_hash=? AND competition_id=? AND round_block=?",
            (content_hash, competition_id, round_block),
        )
        return _eval_from_row(rows[0]) if rows else None

    def put_eval(self, record: EvalRecord) -> None:
        """Store an evaluation and count it (`counter("evaluations")`) in the same commit."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO eval_results (content_hash, competition_id, round_block, seed, loss, fault, "
                "samples, tokens, seconds, tokens_per_s, per_task, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.content_hash, record.competition_id, record.round_block, record.seed, record.loss,
                    record.fault, record.samples, record.tokens, record.seconds, record.tokens_per_s,
                    json.dumps(record.per_task, sort_keys=True), time.time(),
                ),
            )
            self.increment("evaluations")

    def last_loss(self, content_hash: str, competition_id: str, before_round: int) -> float | None:
        """The most recent successful loss of this content before `before_round` (for held models)."""
        rows = self._query(
            "SELECT loss FROM eval_results WHERE content_hash=? AND competition_id=? AND round_block<? "
            "AND loss IS NOT NULL ORDER BY round_block DESC LIMIT 1",
            (content_hash, competition_id, before_round),
        )
        return float(rows[0][0]) if rows else None

    def eval_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM eval_results")[0][0])

    # --- admissions ---------------------------------------------------------------------------

    def get_admission(self, hotkey: str, revision: str, reference: str | None = None) -> AdmissionRecord | None:
        """The stored admission of this hotkey's revision, if it was for the same commitment text."""
        rows = self._query(
            "SELECT hotkey, revision, reference, ok, reasons, content_hash, parameters, model_dir FROM admissions "
            "WHERE hotkey=? AND revision=?",
            (hotkey, revision),
        )
        if not rows:
            return None
        record = _admission_from_row(rows[0])
        if reference is not None and record.reference != reference:
            return None
        return record

    def put_admission(self, record: AdmissionRecord) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO admissions (hotkey, revision, reference, ok, reasons, content_hash, "
                "parameters, model_dir, checked_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    record.hotkey, record.revision, record.reference, int(record.ok), json.dumps(record.reasons),
                    record.content_hash, record.parameters, record.model_dir, time.time(),
                ),
            )

    def admissions(self) -> list[AdmissionRecord]:
        rows = self._query(
            "SELECT hotkey, revision, reference, ok, reasons, content_hash, parameters, model_dir FROM admissions"
        )
        return [_admission_from_row(row) for row in rows]

    def forget_admissions_except(self, keep: set[tuple[str, str]]) -> int:
        """Drop admissions whose (hotkey, revision) is no longer committed; returns how many."""
        stale = [(a.hotkey, a.revision) for a in self.admissions() if (a.hotkey, a.revision) not in keep]
        with self.transaction() as db:
            db.executemany("DELETE FROM admissions WHERE hotkey=? AND revision=?", stale)
        return len(stale)

    # --- EMA scores ---------------------------------------------------------------------------

    def ema(self, competition_id: str) -> dict[int, float]:
        rows = self._query("SELECT uid, ema FROM scores WHERE competition_id=?", (competition_id,))
        return {int(uid): float(value) for uid, value in rows}

    def ema_hotkeys(self) -> dict[int, str]:
        return {int(uid): hotkey for uid, hotkey in self._query("SELECT DISTINCT uid, hotkey FROM scores")}

    def set_ema(self, competition_id: str, ema: Mapping[int, float], hotkeys: Mapping[int, str], round_block: int) -> None:
        """Replace the competition's EMA table with `ema` (uids absent from it are dropped)."""
        with self.transaction() as db:
            db.execute("DELETE FROM scores WHERE competition_id=?", (competition_id,))
            db.executemany(
                "INSERT INTO scores (competition_id, uid, hotkey, ema, round_block) VALUES (?,?,?,?,?)",
                [(competition_id, uid, hotkeys.get(uid, ""), value, round_block) for uid, value in sorted(ema.items())],
            )

    def reset_changed_hotkeys(self, hotkeys: Mapping[int, str]) -> list[int]:
        """Forget the EMA of every uid whose hotkey is not `hotkeys[uid]` any more (deregistered or replaced)."""
        changed = sorted(uid for uid, hotkey in self.ema_hotkeys().items() if hotkeys.get(uid) != hotkey)
        with self.transaction() as db:
            db.executemany("DELETE FROM scores WHERE uid=?", [(uid,) for uid in changed])
        return changed

    # --- rounds -------------------------------------------------------------------------------

    def start_round(self, competition_id: str, round_block: int, seed: int) -> RoundProgress:
        """Mark a round in progress (a no-op if it was already started or done)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO rounds (competition_id, round_block, seed, status, started_at) "
                "VALUES (?,?,?,?,?)",
                (competition_id, round_block, seed, "in_progress", time.time()),
            )
        progress = self.round_progress(competition_id, round_block)
        assert progress is not None
        return progress

    def round_progress(self, competition_id: str, round_block: int) -> RoundProgress | None:
        rows = self._query(
            "SELECT competition_id, round_block, seed, status, started_at, finished_at FROM rounds "
            "WHERE competition_id=? AND round_block=?",
            (competition_id, round_block),
        )
        return RoundProgress(*rows[0]) if rows else None

    def latest_round(self, competition_id: str | None = None, status: str | None = None) -> RoundProgress | None:
        sql = "SELECT competition_id, round_block, seed, status, started_at, finished_at FROM rounds WHERE 1=1"
        params: tuple = ()
        if competition_id is not None:
            sql += " AND competition_id=?"
            params += (competition_id,)
        if status is not None:
            sql += " AND status=?"
            params += (status,)
        rows = self._query(sql + " ORDER BY round_block DESC, started_at DESC LIMIT 1", params)
        return RoundProgress(*rows[0]) if rows else None

    def record_uid(
        self, competition_id: str, round_block: int, uid: int, hotkey: str | None, status: str,
        loss: float | None = None, detail: str = "",
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO round_uids (competition_id, round_block, uid, hotkey, status, loss, detail) "
                "VALUES (?,?,?,?,?,?,?)",
                (competition_id, round_block, uid, hotkey, status, loss, detail),
            )

    def round_uids(self, competition_id: str, round_block: int) -> dict[int, tuple[str, float | None, str]]:
        rows = self._query(
            "SELECT uid, status, loss, detail FROM round_uids WHERE competition_id=? AND round_block=?",
            (competition_id, round_block),
        )
        return {int(uid): (status, loss, detail) for uid, status, loss, detail in rows}

    def finish_round(self, competition_id: str, round_block: int) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE rounds SET status='done', finished_at=? WHERE competition_id=? AND round_block=?",
                (time.time(), competition_id, round_block),
            )

    # --- weights ------------------------------------------------------------------------------

    def set_pending_weights(self, round_block: int, weights: Mapping[int, float]) -> None:
        """The latest weights computed, waiting for the rate limit to allow setting them."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO pending_weights (id, round_block, weights, created_at) VALUES (1,?,?,?)",
                (round_block, json.dumps({str(k): v for k, v in sorted(weights.items())}), time.time()),
            )

    def pending_weights(self) -> tuple[int, dict[int, float]] | None:
        rows = self._query("SELECT round_block, weights FROM pending_weights WHERE id=1")
        if not rows:
            return None
        return int(rows[0][0]), {int(k): float(v) for k, v in json.loads(rows[0][1]).items()}

    def record_weights(self, attempt: WeightSet) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO weight_sets (block, round_block, uids, weights, ok, message, version_key, created_at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    attempt.block, attempt.round_block, json.dumps(list(attempt.uids)),
                    json.dumps(list(attempt.weights)), int(attempt.ok), attempt.message, attempt.version_key,
                    time.time(),
                ),
            )
            self.increment("weight_sets_ok" if attempt.ok else "weight_sets_failed")

    def weight_sets(self, ok_only: bool = False, limit: int = 100) -> list[WeightSet]:
        """Weight-setting attempts, newest first."""
        where = "WHERE ok=1" if ok_only else ""
        rows = self._query(
            "SELECT block, round_block, uids, weights, ok, message, version_key, created_at FROM weight_sets "
            f"{where} ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            WeightSet(block, round_block, json.loads(uids), json.loads(weights), bool(ok), message or "", vk, created)
            for block, round_block, uids, weights, ok, message, vk, created in rows
        ]

    def last_weights(self) -> WeightSet | None:
        """The last weights the chain accepted from this validator."""
        found = self.weight_sets(ok_only=True, limit=1)
        return found[0] if found else None

    # --- faults and counters ------------------------------------------------------------------

    def log_fault(
        self, kind: str, reason: str, uid: int | None = None, hotkey: str | None = None,
        round_block: int | None = None, competition_id: str | None = None,
    ) -> None:
        if kind not in ("miner", "validator"):
            raise ValueError(f"fault kind must be 'miner' or 'validator', got {kind!r}")
        with self.transaction() as db:
            db.execute(
                "INSERT INTO faults (round_block, competition_id, uid, hotkey, kind, reason, created_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (round_block, competition_id, uid, hotkey, kind, reason, time.time()),
            )
            self.increment(f"{kind}_faults")

    def faults(self, kind: str | None = None, uid: int | None = None, limit: int = 100) -> list[FaultRecord]:
        """Logged faults, newest first."""
        sql = "SELECT round_block, competition_id, uid, hotkey, kind, reason, created_at FROM faults WHERE 1=1"
        params: tuple = ()
        if kind is not None:
            sql += " AND kind=?"
            params += (kind,)
        if uid is not None:
            sql += " AND uid=?"
            params += (uid,)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", params + (limit,))
        return [FaultRecord(*row) for row in rows]

    def increment(self, name: str, by: int = 1) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, by),
            )

    def counter(self, name: str) -> int:
        rows = self._query("SELECT value FROM counters WHERE name=?", (name,))
        return int(rows[0][0]) if rows else 0

    def counters(self) -> dict[str, int]:
        return {name: int(value) for name, value in self._query("SELECT name, value FROM counters ORDER BY name")}

    # --- summary ------------------------------------------------------------------------------

    def summary(self) -> dict[str, object]:
        """A JSON-ready overview for `flock-subnet validator status`."""
        last = self.last_weights()
        latest = self.latest_round()
        competitions = [row[0] for row in self._query("SELECT DISTINCT competition_id FROM scores ORDER BY 1")]
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "latest_round": None if latest is None else {
                "competition": latest.competition_id, "round_block": latest.round_block,
                "seed": latest.seed, "status": latest.status,
            },
            "ema": {c: {str(uid): value for uid, value in sorted(self.ema(c).items())} for c in competitions},
            "last_weights": None if last is None else {
                "block": last.block, "round_block": last.round_block, "version_key": last.version_key,
                "weights": {str(u): w for u, w in zip(last.uids, last.weights) if w > 0},
            },
            "evaluations_cached": self.eval_count(),
            "counters": self.counters(),
            "recent_faults": [
                {"kind": f.kind, "uid": f.uid, "round_block": f.round_block, "reason": f.reason}
                for f in self.faults(limit=10)
            ],
        }


def _eval_from_row(row: tuple) -> EvalRecord:
    content_hash, competition_id, round_block, seed, loss, fault, samples, tokens, seconds, tps, per_task = row
    return EvalRecord(
        content_hash=content_hash, competition_id=competition_id, round_block=int(round_block), seed=int(seed),
        loss=None if loss is None else float(loss), fault=fault, samples=int(samples or 0), tokens=int(tokens or 0),
        seconds=float(seconds or 0.0), tokens_per_s=float(tps or 0.0), per_task=json.loads(per_task or "{}"),
    )


def _admission_from_row(row: tuple) -> AdmissionRecord:
    hotkey, revision, reference, ok, reasons, content_hash, parameters, model_dir = row
    return AdmissionRecord(
        hotkey=hotkey, revision=revision, reference=reference, ok=bool(ok), reasons=list(json.loads(reasons)),
        content_hash=content_hash, parameters=parameters, model_dir=model_dir,
    )
