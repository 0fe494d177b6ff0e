"""The validator state's tables and their history: `MIGRATIONS[i]` upgrades schema version i to i + 1.

A migration is never edited once released (files in the field were written by it); a change to
the tables is a new step appended to `MIGRATIONS`.
"""

from __future__ import annotations

import sqlite3

from flock_subnet.sqlitedb import Schema, Step, run_script


def _migrate_to_1(db: sqlite3.Connection) -> None:
    run_script(
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
        """,
    )


def _migrate_to_2(db: sqlite3.Connection) -> None:
    """Version 2: per-task losses and throughput in evaluations, version keys, counters, pending weights."""
    run_script(
        db,
        """
        ALTER TABLE eval_results ADD COLUMN per_task TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE eval_results ADD COLUMN tokens_per_s REAL;
        ALTER TABLE weight_sets ADD COLUMN version_key INTEGER;
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE pending_weights (
            id INTEGER PRIMARY KEY CHECK (id = 1), round_block INTEGER NOT NULL,
            weights TEXT NOT NULL, created_at REAL NOT NULL);
        """,
    )


def _migrate_to_3(db: sqlite3.Connection) -> None:
    """Version 3: each weight submission and where it stands (set, committed, revealed, dropped,
    refused); the hotkeys the pending weights were computed for."""
    run_script(
        db,
        """
        CREATE TABLE weight_submissions (
            id INTEGER PRIMARY KEY AUTOINCREMENT, round_block INTEGER, block INTEGER,
            state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', uids TEXT NOT NULL,
            weights TEXT NOT NULL, version_key INTEGER, reveal_by INTEGER,
            created_at REAL NOT NULL, updated_at REAL NOT NULL);
        CREATE INDEX weight_submissions_by_state ON weight_submissions (state, id);
        ALTER TABLE pending_weights ADD COLUMN hotkeys TEXT NOT NULL DEFAULT '{}';
        """,
    )


def _migrate_to_4(db: sqlite3.Connection) -> None:
    """Version 4: how many consecutive rounds each uid has been held (validator faults, pending)."""
    run_script(db, "ALTER TABLE round_uids ADD COLUMN held_rounds INTEGER NOT NULL DEFAULT 0;")


def _migrate_to_5(db: sqlite3.Connection) -> None:
    """Version 5: greedy exact-match accuracy of each evaluation, overall and per task."""
    run_script(
        db,
        """
        ALTER TABLE eval_results ADD COLUMN accuracy REAL;
        ALTER TABLE eval_results ADD COLUMN accuracy_per_task TEXT NOT NULL DEFAULT '{}';
        """,
    )


MIGRATIONS: tuple[Step, ...] = (_migrate_to_1, _migrate_to_2, _migrate_to_3, _migrate_to_4, _migrate_to_5)
SCHEMA_VERSION = len(MIGRATIONS)
SCHEMA = Schema(
    name="validator state",
    steps=MIGRATIONS,
    fresh_start="point the validator at another state folder",
)
