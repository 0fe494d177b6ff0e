"""Who may link a stored body into a commit, and reclaiming bodies no commit refers to.

Bodies are stored once by sha256 (`objects.ObjectStore`), so a hub must not let a user commit a
body only because they know its hash: that would let anyone read (or, through the LFS batch
answer, probe for) a file of someone else's private repository. A user may link a stored body
when they uploaded its bytes themselves (`uploads`), or when a repository they can read already
holds it (public, or in their own namespace); otherwise the hub asks for the bytes, exactly as if
it did not have them. What each user uploaded also counts against their quota
(`flock-subnet hub serve --max-user-bytes`).

`collect_garbage` deletes bodies that no commit of any repository refers to (deleted repos,
abandoned uploads) once they are older than a grace period, which protects uploads whose commit
is still on its way; `flock-subnet hub gc` runs it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from flock_subnet.sqlitedb import Database, run_script

DEFAULT_GRACE_S = 3600.0

UPLOADS_TABLE = """
CREATE TABLE IF NOT EXISTS uploads (
    user TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (user, sha256))
"""


def add_uploads_table(conn: sqlite3.Connection) -> None:
    """Schema step: remember which user uploaded which body."""
    run_script(conn, UPLOADS_TABLE)


def record_upload(db: Database, user: str | None, sha256: str, size: int) -> None:
    """`user` sent the `size` bytes of `sha256` (anonymous uploads are not remembered)."""
    if user:
        with db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO uploads (user, sha256, size) VALUES (?, ?, ?)", (user, sha256, size))


def bytes_uploaded(db: Database, user: str | None) -> int:
    """The bytes of every distinct body `user` has uploaded and the hub still stores (their quota use)."""
    row = db.query_one("SELECT COALESCE(SUM(size), 0) FROM uploads WHERE user = ?", (user or "",))
    return int(row[0]) if row else 0


def may_link(db: Database, user: str | None, sha256: str) -> bool:
    """Whether `user` may commit the stored body `sha256` without sending its bytes."""
    if user and db.query_one("SELECT 1 FROM uploads WHERE user = ? AND sha256 = ?", (user, sha256)):
        return True
    row = db.query_one(
        "SELECT 1 FROM files f JOIN commits c ON c.sha = f.commit_sha JOIN repos r ON r.rid = c.rid "
        "WHERE f.sha256 = ? AND (r.private = 0 OR r.namespace = ?) LIMIT 1",
        (sha256, user or ""),
    )
    return row is not None


@dataclass(frozen=True)
class Collected:
    """What a garbage collection removed."""

    bodies: int
    bytes: int
    kept: int


def collect_garbage(db: Database, root: Path, grace_s: float = DEFAULT_GRACE_S, now: float | None = None) -> Collected:
    """Delete stored bodies no commit refers to and older than `grace_s`, and stale incoming files."""
    now = time.time() if now is None else now
    referenced = {row[0] for row in db.query("SELECT DISTINCT sha256 FROM files")}
    removed = freed = kept = 0
    objects = root / "objects"
    for shard in sorted(p for p in objects.iterdir() if p.is_dir()) if objects.is_dir() else []:
        for body in sorted(shard.iterdir()):
            info = body.stat()
            if body.name in referenced or now - info.st_mtime < grace_s:
                kept += 1
                continue
            body.unlink(missing_ok=True)
            removed, freed = removed + 1, freed + info.st_size
            with db.transaction() as conn:
                conn.execute("DELETE FROM uploads WHERE sha256 = ?", (body.name,))
    incoming = root / "incoming"
    for leftover in incoming.iterdir() if incoming.is_dir() else []:
        if now - leftover.stat().st_mtime >= grace_s:
            os.unlink(leftover)
    return Collected(bodies=removed, bytes=freed, kept=kept)
