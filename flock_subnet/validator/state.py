"""The validator's memory: one SQLite file, schema-versioned, every change in a transaction.

What it remembers, so that a restart (even a `kill -9`) loses nothing and repeats nothing:
- evaluation results per (content hash, competition, round) - a model is never re-evaluated
  on the same round's data;
- admission results per (hotkey, revision) - what was downloaded and verified, or why not;
- EMA scores per (competition, uid), with the uid's hotkey (reset when a uid changes hands);
- round progress (which round is running, the per-uid outcome so far);
- the weights this validator last computed and last set (block and vector), and every weight
  submission with its state (set, committed, revealed, dropped, refused);
- a fault log (miner faults score zero; validator faults are retried) and a few counters.

This module holds the queries, one small accessor per table; the records are in
`state_records.py`, the tables and their migrations in `state_schema.py`, and the connection,
transactions and schema versions in `flock_subnet.sqlitedb` (WAL; `transaction()` groups several
changes into one atomic commit).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flock_subnet.sqlitedb import Database, DatabaseError
from flock_subnet.validator.state_records import (
    ADMISSION_COLUMNS,
    EVAL_COLUMNS,
    FAULT_COLUMNS,
    SUBMISSION_COLUMNS,
    WEIGHT_SET_COLUMNS,
    AdmissionRecord,
    EvalRecord,
    FaultRecord,
    RoundProgress,
    StateError,
    SubmissionState,
    WeightSet,
    WeightSubmission,
    admission_from_row,
    eval_from_row,
    fault_from_row,
    submission_from_row,
    weight_set_from_row,
)
from flock_subnet.validator.state_rounds import RoundLog
from flock_subnet.validator.state_schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION

__all__ = [
    "MIGRATIONS", "SCHEMA_VERSION", "AdmissionRecord", "EvalRecord", "FaultRecord", "RoundProgress",
    "StateError", "SubmissionState", "ValidatorState", "WeightSet", "WeightSubmission",
]


class ValidatorState(RoundLog):
    """Access to the state file; safe to share between threads (one lock, one connection)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = Database.open(self.path, SCHEMA, busy_timeout_s=30, foreign_keys=True)
        except DatabaseError as exc:
            raise StateError(str(exc)) from exc

    # --- plumbing -----------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return self._db.version

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All changes inside the block commit together or not at all; a nested block is a savepoint."""
        with self._db.transaction() as conn:
            yield conn

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._db.query(sql, params)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ValidatorState":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- evaluation cache ---------------------------------------------------------------------

    def get_eval(self, content_hash: str, competition_id: str, round_block: int) -> EvalRecord | None:
        rows = self._query(
            f"SELECT {EVAL_COLUMNS} FROM eval_results WHERE content_hash=? AND competition_id=? AND round_block=?",
            (content_hash, competition_id, round_block),
        )
        return eval_from_row(rows[0]) if rows else None

    def put_eval(self, record: EvalRecord) -> None:
        """Store an evaluation and count it (`counter("evaluations")`) in the same commit."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO eval_results (content_hash, competition_id, round_block, seed, loss, fault, samples, "
                "tokens, seconds, tokens_per_s, per_task, accuracy, accuracy_per_task, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.content_hash, record.competition_id, record.round_block, record.seed, record.loss,
                    record.fault, record.samples, record.tokens, record.seconds, record.tokens_per_s,
                    json.dumps(record.per_task, sort_keys=True), record.accuracy,
                    json.dumps(record.accuracy_per_task, sort_keys=True), time.time(),
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
            f"SELECT {ADMISSION_COLUMNS} FROM admissions WHERE hotkey=? AND revision=?",
            (hotkey, revision),
        )
        if not rows:
            return None
        record = admission_from_row(rows[0])
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
        rows = self._query(f"SELECT {ADMISSION_COLUMNS} FROM admissions")
        return [admission_from_row(row) for row in rows]

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

    # --- weights ------------------------------------------------------------------------------

    def set_pending_weights(
        self, round_block: int, weights: Mapping[int, float], hotkeys: Mapping[int, str] | None = None
    ) -> None:
        """The latest weights computed (and the hotkey each uid had), waiting for the rate limit."""
        keyed = {str(k): v for k, v in sorted((hotkeys or {}).items())}
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO pending_weights (id, round_block, weights, created_at, hotkeys) VALUES (1,?,?,?,?)",
                (round_block, json.dumps({str(k): v for k, v in sorted(weights.items())}), time.time(), json.dumps(keyed)),
            )

    def pending_hotkeys(self) -> dict[int, str]:
        """uid -> the hotkey it had when the pending weights were computed (empty: not recorded)."""
        rows = self._query("SELECT hotkeys FROM pending_weights WHERE id=1")
        return {int(k): str(v) for k, v in json.loads(rows[0][0] or "{}").items()} if rows else {}

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
            f"SELECT {WEIGHT_SET_COLUMNS} FROM weight_sets {where} ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [weight_set_from_row(row) for row in rows]

    def record_submission(self, sub: WeightSubmission) -> int:
        """Store a weight submission; returns its id."""
        now = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                f"INSERT INTO weight_submissions ({SUBMISSION_COLUMNS.split(', ', 1)[1]}, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (sub.round_block, sub.block, sub.state.value, sub.reason, json.dumps(list(sub.uids)),
                 json.dumps(list(sub.weights)), sub.version_key, sub.reveal_by, now, now),
            )
            self.increment(f"weights_{sub.state.value}")
        return int(cursor.lastrowid or 0)

    def update_submission(self, submission_id: int, state: SubmissionState, reason: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE weight_submissions SET state=?, reason=?, updated_at=? WHERE id=?",
                (state.value, reason, time.time(), submission_id),
            )
            self.increment(f"weights_{state.value}")

    def weight_submissions(self, state: SubmissionState | None = None, limit: int = 20) -> list[WeightSubmission]:
        """Weight submissions, newest first (only those in `state` when given)."""
        where, params = ("WHERE state=?", (state.value,)) if state is not None else ("", ())
        rows = self._query(
            f"SELECT {SUBMISSION_COLUMNS} FROM weight_submissions {where} ORDER BY id DESC LIMIT ?", params + (limit,)
        )
        return [submission_from_row(row) for row in rows]

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
        sql = f"SELECT {FAULT_COLUMNS} FROM faults WHERE 1=1"
        params: tuple = ()
        if kind is not None:
            sql += " AND kind=?"
            params += (kind,)
        if uid is not None:
            sql += " AND uid=?"
            params += (uid,)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", params + (limit,))
        return [fault_from_row(row) for row in rows]

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
            "weight_submissions": [sub.to_json() for sub in self.weight_submissions(limit=20)],
            "held_rounds": {c: {str(uid): n for uid, n in held.items()} for c, held in self.held_now().items()},
            "evaluations_cached": self.eval_count(),
            "counters": self.counters(),
            "recent_faults": [
                {"kind": f.kind, "uid": f.uid, "round_block": f.round_block, "reason": f.reason}
                for f in self.faults(limit=10)
            ],
        }
