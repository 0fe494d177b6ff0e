"""The validator state's round log: which rounds ran, and every uid's outcome and held streak in each.

A mixin of `ValidatorState` (it needs the state's `_query` and `transaction`), kept apart so each
module stays one screenful of queries.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from typing import Any

from flock_subnet.validator.state_records import (
    ROUND_COLUMNS,
    RoundProgress,
    round_from_row,
)


class RoundLog:
    """Queries on the `rounds` and `round_uids` tables."""

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

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
            f"SELECT {ROUND_COLUMNS} FROM rounds WHERE competition_id=? AND round_block=?",
            (competition_id, round_block),
        )
        return round_from_row(rows[0]) if rows else None

    def latest_round(self, competition_id: str | None = None, status: str | None = None) -> RoundProgress | None:
        sql = f"SELECT {ROUND_COLUMNS} FROM rounds WHERE 1=1"
        params: tuple = ()
        if competition_id is not None:
            sql += " AND competition_id=?"
            params += (competition_id,)
        if status is not None:
            sql += " AND status=?"
            params += (status,)
        rows = self._query(sql + " ORDER BY round_block DESC, started_at DESC LIMIT 1", params)
        return round_from_row(rows[0]) if rows else None

    def record_uid(
        self, competition_id: str, round_block: int, uid: int, hotkey: str | None, status: str,
        loss: float | None = None, detail: str = "", held_rounds: int = 0,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO round_uids "
                "(competition_id, round_block, uid, hotkey, status, loss, detail, held_rounds) VALUES (?,?,?,?,?,?,?,?)",
                (competition_id, round_block, uid, hotkey, status, loss, detail, held_rounds),
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

    def held_streaks(self, competition_id: str, before_round: int) -> dict[int, tuple[str, int]]:
        """uid -> (hotkey, consecutive held rounds) as of the competition's last round before `before_round`.

        Re-running a round (after a restart) reads the same earlier round, so a streak never
        counts one round twice.
        """
        rows = self._query(
            "SELECT uid, hotkey, held_rounds FROM round_uids WHERE competition_id=? AND round_block="
            "(SELECT MAX(round_block) FROM round_uids WHERE competition_id=? AND round_block<?)",
            (competition_id, competition_id, before_round),
        )
        return {int(uid): (hotkey or "", int(streak)) for uid, hotkey, streak in rows}

    def held_now(self) -> dict[str, dict[int, int]]:
        """competition -> uid -> held rounds in a row, as of each competition's latest round (streaks > 0)."""
        rows = self._query(
            "SELECT u.competition_id, u.uid, u.held_rounds FROM round_uids u JOIN "
            "(SELECT competition_id, MAX(round_block) AS last FROM round_uids GROUP BY competition_id) m "
            "ON u.competition_id = m.competition_id AND u.round_block = m.last WHERE u.held_rounds > 0 "
            "ORDER BY u.competition_id, u.uid"
        )
        held: dict[str, dict[int, int]] = {}
        for competition_id, uid, streak in rows:
            held.setdefault(competition_id, {})[int(uid)] = int(streak)
        return held
