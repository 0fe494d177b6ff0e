"""Commit-reveal weights on the local chain, the way subtensor runs them.

On a subnet with `commit_reveal_enabled`, `set_weights` stores a hidden commit instead of a row.
At commit the chain checks only what it can see: registration, the minimum stake and the rate
limit; `LastUpdate` moves to the commit block, so a committing validator counts as active. The
commit is revealed `commit_reveal_period` epochs after the epoch it was made in, right after that
epoch boundary: the version key, the validator permit, the uids and the minimum length are
checked then, and a commit that fails them is dropped without a trace (the chain only logs it).
A revealed row replaces the uid's weights without touching `LastUpdate`; epochs only ever see
revealed rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from flock_subnet.chain.base import ChainErrorCode
from flock_subnet.kit.localchain.ops import subnet_params, subnet_row
from flock_subnet.kit.localchain.rules import RuleViolation
from flock_subnet.kit.localchain.weightrows import (
    check_weight_stake,
    check_weights_rate,
    checked_weight_row,
    registered_uid,
    store_weight_row,
)


def commit_weights(
    conn: sqlite3.Connection,
    hotkey: str,
    netuid: int,
    uids: Sequence[int],
    weights: Sequence[float],
    version_key: int,
    block: int,
) -> dict[str, Any]:
    """Store a hidden weight commit; returns what the port reports (`committed`, `reveal_epoch`)."""
    row = subnet_row(conn, netuid)
    params = subnet_params(conn, netuid)
    uid = registered_uid(conn, netuid, hotkey)
    check_weight_stake(conn, netuid, hotkey, params)
    check_weights_rate(conn, netuid, uid, block, params, ChainErrorCode.COMMITTING_WEIGHTS_TOO_FAST)
    reveal_epoch = int(row[5]) + int(params["commit_reveal_period"])
    conn.execute(
        "INSERT INTO weight_commits (netuid, uid, hotkey, commit_block, reveal_epoch, uids, weights, version_key) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (netuid, uid, hotkey, block, reveal_epoch, json.dumps([int(u) for u in uids]),
         json.dumps([float(w) for w in weights]), int(version_key)),
    )
    conn.execute("UPDATE neurons SET last_update = ? WHERE netuid = ? AND uid = ?", (block, netuid, uid))
    return {"committed": True, "reveal_epoch": reveal_epoch}


def reveal_due(conn: sqlite3.Connection, netuid: int) -> tuple[int, int]:
    """Reveal every commit whose reveal epoch has come, oldest first. Returns (revealed, dropped)."""
    epoch_index = int(subnet_row(conn, netuid)[5])
    params = subnet_params(conn, netuid)
    due = conn.execute(
        "SELECT id, uid, hotkey, uids, weights, version_key FROM weight_commits "
        "WHERE netuid = ? AND reveal_epoch <= ? ORDER BY id",
        (netuid, epoch_index),
    ).fetchall()
    revealed = dropped = 0
    for commit_id, uid, hotkey, uids, weights, version_key in due:
        conn.execute("DELETE FROM weight_commits WHERE id = ?", (commit_id,))
        still_there = conn.execute(
            "SELECT 1 FROM neurons WHERE netuid = ? AND uid = ? AND hotkey = ?", (netuid, uid, hotkey)
        ).fetchone()
        if still_there is None:
            dropped += 1
            continue
        try:
            processed = checked_weight_row(
                conn, netuid, int(uid), str(hotkey), json.loads(uids), json.loads(weights), int(version_key), params
            )
        except RuleViolation:
            dropped += 1  # silently, as the chain does: the commit is consumed and nothing is stored
            continue
        store_weight_row(conn, netuid, int(uid), processed)
        revealed += 1
    return revealed, dropped


def pending_commits(conn: sqlite3.Connection, netuid: int) -> list[dict[str, Any]]:
    """Unrevealed commits of the subnet (hotkey, uid, commit block, reveal epoch); their weights stay hidden."""
    rows = conn.execute(
        "SELECT hotkey, uid, commit_block, reveal_epoch FROM weight_commits WHERE netuid = ? ORDER BY id", (netuid,)
    ).fetchall()
    return [{"hotkey": str(h), "uid": int(u), "commit_block": int(b), "reveal_epoch": int(e)} for h, u, b, e in rows]
