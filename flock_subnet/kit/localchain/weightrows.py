"""Weight rows on the local chain: the rules a row must pass and how it is stored.

`set_weights` is the plain path (commit-reveal off): every rule at once, then the row and
`LastUpdate`. The commit-reveal path (`reveal.py`) checks registration, stake and the rate limit
at commit and the rest (`checked_weight_row`) at the reveal.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from flock_subnet.chain.base import ChainErrorCode
from flock_subnet.kit.localchain.ops import neuron_count, subnet_params, subnet_row, uid_of
from flock_subnet.kit.localchain.rules import ProcessedWeights, RuleViolation, process_weights


def registered_uid(conn: sqlite3.Connection, netuid: int, hotkey: str) -> int:
    """The hotkey's uid, or `RuleViolation(NOT_REGISTERED)`."""
    uid = uid_of(conn, netuid, hotkey)
    if uid is None:
        raise RuleViolation(
            ChainErrorCode.NOT_REGISTERED, f"hotkey {hotkey} is not registered on subnet {netuid}; register it first"
        )
    return uid


def check_weight_stake(conn: sqlite3.Connection, netuid: int, hotkey: str, params: dict[str, Any]) -> None:
    """The minimum stake to set (or commit) weights; the subnet owner is exempt."""
    if hotkey == subnet_row(conn, netuid)[2]:
        return
    stake = int(
        conn.execute("SELECT COALESCE(SUM(amount), 0) FROM stakes WHERE netuid = ? AND hotkey = ?", (netuid, hotkey))
        .fetchone()[0]
    )
    if stake < int(params["stake_threshold"]):
        raise RuleViolation(
            ChainErrorCode.NOT_ENOUGH_STAKE_TO_SET_WEIGHTS,
            f"hotkey {hotkey} has {stake} rao staked; setting weights needs {params['stake_threshold']}",
        )


def check_weights_rate(
    conn: sqlite3.Connection, netuid: int, uid: int, block: int, params: dict[str, Any], code: ChainErrorCode
) -> None:
    """One set (or commit) per `weights_rate_limit` blocks, counted from the uid's last update."""
    last_update = int(conn.execute("SELECT last_update FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid)).fetchone()[0])
    limit = int(params["weights_rate_limit"])
    if last_update > 0 and block - last_update < limit:
        wait = limit - (block - last_update)
        raise RuleViolation(
            code,
            f"uid {uid} last set weights at block {last_update}; subnet {netuid} allows it every {limit} blocks, "
            f"retry in {wait}",
            retry_after_blocks=wait,
        )


def checked_weight_row(
    conn: sqlite3.Connection, netuid: int, uid: int, hotkey: str, uids: Sequence[int], weights: Sequence[float],
    version_key: int, params: dict[str, Any],
) -> ProcessedWeights:
    """The rules a weight row must pass when it is applied (directly, or at its reveal): version key,
    processing to u16, existing uids, validator permit (or owner, or a lone self-weight), minimum length."""
    required = int(params["weights_version"])
    if int(version_key) < required:
        raise RuleViolation(
            ChainErrorCode.INCORRECT_WEIGHT_VERSION,
            f"version_key {version_key} is below subnet {netuid}'s weights_version {required}; upgrade the validator",
        )
    processed = process_weights(uids, weights, int(params["max_weight_limit"]))
    n = neuron_count(conn, netuid)
    unknown = [u for u in uids if int(u) >= n]
    if unknown:
        raise RuleViolation(
            ChainErrorCode.INVALID_UIDS, f"uids {sorted(int(u) for u in unknown)} do not exist on subnet {netuid} (n = {n})"
        )
    self_only = processed.uids == (uid,)
    is_owner = hotkey == subnet_row(conn, netuid)[2]
    permit = bool(conn.execute("SELECT validator_permit FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid)).fetchone()[0])
    if not permit and not is_owner and not self_only:
        raise RuleViolation(
            ChainErrorCode.NO_VALIDATOR_PERMIT,
            f"uid {uid} has no validator permit on subnet {netuid}; permits go to the top "
            f"{params['max_allowed_validators']} stakes at each epoch",
        )
    minimum = min(int(params["min_allowed_weights"]), n)
    if len(processed.uids) < minimum and not self_only:
        raise RuleViolation(
            ChainErrorCode.WEIGHT_VEC_LENGTH_IS_LOW,
            f"{len(processed.uids)} non-zero weights, subnet {netuid} requires at least {minimum}",
        )
    return processed


def store_weight_row(conn: sqlite3.Connection, netuid: int, uid: int, processed: ProcessedWeights) -> None:
    """Replace the uid's weight row with a processed one."""
    conn.execute("DELETE FROM weights WHERE netuid = ? AND uid = ?", (netuid, uid))
    conn.executemany(
        "INSERT INTO weights (netuid, uid, target, value) VALUES (?, ?, ?, ?)",
        [(netuid, uid, t, v) for t, v in zip(processed.uids, processed.values)],
    )


def set_weights(
    conn: sqlite3.Connection,
    hotkey: str,
    netuid: int,
    uids: Sequence[int],
    weights: Sequence[float],
    version_key: int,
    block: int,
) -> tuple[int, ...]:
    """Validate and store one validator's weight row on a plain subnet; returns the stored target uids."""
    params = subnet_params(conn, netuid)
    uid = registered_uid(conn, netuid, hotkey)
    if params["commit_reveal_enabled"]:
        raise RuleViolation(
            ChainErrorCode.COMMIT_REVEAL_ENABLED,
            f"subnet {netuid} has commit-reveal on; plain set_weights is refused (the owner can turn it off)",
        )
    check_weight_stake(conn, netuid, hotkey, params)
    processed = checked_weight_row(conn, netuid, uid, hotkey, uids, weights, version_key, params)
    check_weights_rate(conn, netuid, uid, block, params, ChainErrorCode.WEIGHTS_RATE_LIMITED)
    store_weight_row(conn, netuid, uid, processed)
    conn.execute("UPDATE neurons SET last_update = ? WHERE netuid = ? AND uid = ?", (block, netuid, uid))
    return processed.uids
