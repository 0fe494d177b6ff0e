"""State transitions of the local chain, each run inside one write transaction.

Every function checks the chain's rules first and raises `RuleViolation` (with subtensor's
error name) before changing anything, so a refused call leaves the state exactly as it was.
Signatures are checked by the caller (`chain.py`) before a transaction starts. Weight rows are
in `weightrows.py`; the alpha pool and the moving burn a subnet may opt into in `market.py`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from flock_subnet.chain.base import ChainErrorCode
from flock_subnet.kit.localchain import market
from flock_subnet.kit.localchain.rules import (
    COMMITMENT_MAX_BYTES,
    DEFAULT_HYPERPARAMETERS,
    MAX_DELEGATE_TAKE_U16,
    MIN_NON_IMMUNE_UIDS,
    RuleViolation,
    canonical_hyperparameter,
    coerce_hyperparameter,
    commitment_charge,
)
from flock_subnet.kit.localchain.store import add_balance, add_stake, balance_of, get_meta, set_meta, stake_of


def subnet_row(conn: sqlite3.Connection, netuid: int) -> sqlite3.Row:
    row = conn.execute(
        "SELECT netuid, owner_coldkey, owner_hotkey, created_block, last_epoch_block, epoch_index, hyperparameters "
        "FROM subnets WHERE netuid = ?",
        (int(netuid),),
    ).fetchone()
    if row is None:
        raise RuleViolation(
            ChainErrorCode.SUBNET_NOT_FOUND,
            f"subnet {netuid} does not exist on this chain; create it with `flock-subnet localnet init` "
            "or check --netuid",
        )
    return row


def subnet_params(conn: sqlite3.Connection, netuid: int) -> dict[str, Any]:
    params = dict(DEFAULT_HYPERPARAMETERS)
    params.update(json.loads(subnet_row(conn, netuid)[6]))
    return params


def uid_of(conn: sqlite3.Connection, netuid: int, hotkey: str) -> int | None:
    row = conn.execute("SELECT uid FROM neurons WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)).fetchone()
    return None if row is None else int(row[0])


def neuron_count(conn: sqlite3.Connection, netuid: int) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM neurons WHERE netuid = ?", (netuid,)).fetchone()[0])


def _claim_hotkey(conn: sqlite3.Connection, hotkey: str, coldkey: str) -> None:
    row = conn.execute("SELECT coldkey FROM hotkey_owner WHERE hotkey = ?", (hotkey,)).fetchone()
    if row is not None and row[0] != coldkey:
        raise RuleViolation(
            ChainErrorCode.NON_ASSOCIATED_COLDKEY,
            f"hotkey {hotkey} belongs to coldkey {row[0]}, not {coldkey}; sign with the owning coldkey",
        )
    if row is None:
        conn.execute("INSERT INTO hotkey_owner (hotkey, coldkey) VALUES (?, ?)", (hotkey, coldkey))


def hotkey_owner(conn: sqlite3.Connection, hotkey: str) -> str | None:
    row = conn.execute("SELECT coldkey FROM hotkey_owner WHERE hotkey = ?", (hotkey,)).fetchone()
    return None if row is None else str(row[0])


def _insert_neuron(conn: sqlite3.Connection, netuid: int, uid: int, hotkey: str, coldkey: str, block: int) -> None:
    conn.execute(
        "INSERT INTO neurons (netuid, uid, hotkey, coldkey, block_at_registration, last_update) VALUES (?, ?, ?, ?, ?, ?)",
        (netuid, uid, hotkey, coldkey, block, block),
    )


def create_subnet(
    conn: sqlite3.Connection, owner_coldkey: str, owner_hotkey: str, netuid: int | None, block: int, overrides: dict[str, Any]
) -> int:
    canonical = dict(DEFAULT_HYPERPARAMETERS)
    canonical.update({canonical_hyperparameter(k): coerce_hyperparameter(k, v) for k, v in overrides.items()})
    if netuid is None:
        taken = {int(r[0]) for r in conn.execute("SELECT netuid FROM subnets")}
        netuid = next(i for i in range(1, 65_536) if i not in taken)
    if not 0 <= int(netuid) < 65_536:
        raise RuleViolation(ChainErrorCode.OTHER, f"netuid must be between 0 and 65535, got {netuid}")
    if conn.execute("SELECT 1 FROM subnets WHERE netuid = ?", (netuid,)).fetchone():
        raise RuleViolation(ChainErrorCode.OTHER, f"subnet {netuid} already exists; pick another netuid")
    _claim_hotkey(conn, owner_hotkey, owner_coldkey)
    conn.execute(
        "INSERT INTO subnets (netuid, owner_coldkey, owner_hotkey, created_block, last_epoch_block, epoch_index, "
        "hyperparameters) VALUES (?, ?, ?, ?, ?, 0, ?)",
        (netuid, owner_coldkey, owner_hotkey, block, block, json.dumps(canonical, sort_keys=True)),
    )
    _insert_neuron(conn, int(netuid), 0, owner_hotkey, owner_coldkey, block)
    return int(netuid)


def set_hyperparameter(conn: sqlite3.Connection, signer_coldkey: str, netuid: int, name: str, value: Any) -> Any:
    row = subnet_row(conn, netuid)
    if row[1] != signer_coldkey:
        raise RuleViolation(
            ChainErrorCode.BAD_ORIGIN, f"only the owner of subnet {netuid} ({row[1]}) may change its hyperparameters"
        )
    key = canonical_hyperparameter(name)
    coerced = coerce_hyperparameter(key, value)
    stored = json.loads(row[6])
    stored[key] = coerced
    conn.execute("UPDATE subnets SET hyperparameters = ? WHERE netuid = ?", (json.dumps(stored, sort_keys=True), netuid))
    return coerced


def _neuron_to_prune(conn: sqlite3.Connection, netuid: int, block: int, immunity_period: int) -> int | None:
    """The uid a registration replaces: lowest emission, then oldest registration, then lowest uid.

    Among non-immune uids while there are more than `MIN_NON_IMMUNE_UIDS` of them; otherwise among
    every uid but the owner's, immune ones included, as the chain does, so a full subnet always
    takes a registration.
    """
    owner_hotkey = subnet_row(conn, netuid)[2]
    order = "ORDER BY emission ASC, block_at_registration ASC, uid ASC LIMIT 1"
    non_immune = int(conn.execute(
        "SELECT COUNT(*) FROM neurons WHERE netuid = ? AND hotkey != ? AND block_at_registration + ? <= ?",
        (netuid, owner_hotkey, immunity_period, block),
    ).fetchone()[0])
    if non_immune > MIN_NON_IMMUNE_UIDS:
        row = conn.execute(
            f"SELECT uid FROM neurons WHERE netuid = ? AND hotkey != ? AND block_at_registration + ? <= ? {order}",
            (netuid, owner_hotkey, immunity_period, block),
        ).fetchone()
    else:
        row = conn.execute(f"SELECT uid FROM neurons WHERE netuid = ? AND hotkey != ? {order}", (netuid, owner_hotkey)).fetchone()
    return None if row is None else int(row[0])


def clear_uid(conn: sqlite3.Connection, netuid: int, uid: int) -> None:
    """What deregistration does to a uid's slot: rows gone, incoming weights kept as explicit zeros."""
    conn.execute("DELETE FROM weights WHERE netuid = ? AND uid = ?", (netuid, uid))
    conn.execute("DELETE FROM bonds WHERE netuid = ? AND uid = ?", (netuid, uid))
    conn.execute("UPDATE weights SET value = 0 WHERE netuid = ? AND target = ?", (netuid, uid))
    conn.execute("DELETE FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid))


def register(conn: sqlite3.Connection, coldkey: str, hotkey: str, netuid: int, block: int) -> int:
    params = subnet_params(conn, netuid)
    if uid_of(conn, netuid, hotkey) is not None:
        raise RuleViolation(ChainErrorCode.ALREADY_REGISTERED, f"hotkey {hotkey} is already registered on subnet {netuid}")
    owner = hotkey_owner(conn, hotkey)
    if owner is not None and owner != coldkey:
        raise RuleViolation(
            ChainErrorCode.NON_ASSOCIATED_COLDKEY,
            f"hotkey {hotkey} belongs to coldkey {owner}, not {coldkey}; register it with its own coldkey",
        )
    burn = market.current_burn(conn, netuid, params, block)
    balance = balance_of(conn, coldkey)
    if balance < burn:
        raise RuleViolation(
            ChainErrorCode.NOT_ENOUGH_BALANCE,
            f"registration on subnet {netuid} burns {burn} rao but coldkey {coldkey} holds {balance}; "
            "fund it first (`flock-subnet localnet fund`)",
        )
    n = neuron_count(conn, netuid)
    if n < int(params["max_allowed_uids"]):
        uid = n
    else:
        pruned = _neuron_to_prune(conn, netuid, block, int(params["immunity_period"]))
        if pruned is None:
            raise RuleViolation(
                ChainErrorCode.NO_NEURON_ID_AVAILABLE,
                f"subnet {netuid} is full ({n} uids) and only its owner could be replaced; raise max_allowed_uids",
            )
        uid = pruned
        clear_uid(conn, netuid, uid)
    add_balance(conn, coldkey, -burn)
    burn_issuance(conn, burn)
    market.registered(conn, netuid, params, block, burn)
    _claim_hotkey(conn, hotkey, coldkey)
    _insert_neuron(conn, netuid, uid, hotkey, coldkey, block)
    return uid


def burn_issuance(conn: sqlite3.Connection, amount: int) -> None:
    set_meta(conn, "issuance", int(get_meta(conn, "issuance", "0") or 0) - amount)


def mint_issuance(conn: sqlite3.Connection, amount: int) -> None:
    set_meta(conn, "issuance", int(get_meta(conn, "issuance", "0") or 0) + amount)


def move_stake_in(conn: sqlite3.Connection, coldkey: str, hotkey: str, netuid: int, amount: int) -> int:
    subnet_row(conn, netuid)
    if amount <= 0:
        raise RuleViolation(ChainErrorCode.OTHER, f"stake amount must be a positive number of rao, got {amount}")
    if uid_of(conn, netuid, hotkey) is None:
        raise RuleViolation(
            ChainErrorCode.NOT_REGISTERED, f"hotkey {hotkey} is not registered on subnet {netuid}; register it before staking"
        )
    balance = balance_of(conn, coldkey)
    if balance < amount:
        raise RuleViolation(
            ChainErrorCode.NOT_ENOUGH_BALANCE, f"coldkey {coldkey} holds {balance} rao, cannot stake {amount}; fund it first"
        )
    add_balance(conn, coldkey, -amount)
    add_stake(conn, netuid, hotkey, coldkey, market.tao_to_alpha(conn, netuid, subnet_params(conn, netuid), amount))
    return stake_of(conn, netuid, hotkey, coldkey)


def move_stake_out(conn: sqlite3.Connection, coldkey: str, hotkey: str, netuid: int, amount: int) -> int:
    subnet_row(conn, netuid)
    if amount <= 0:
        raise RuleViolation(ChainErrorCode.OTHER, f"unstake amount must be a positive number of rao, got {amount}")
    held = stake_of(conn, netuid, hotkey, coldkey)
    if held < amount:
        raise RuleViolation(
            ChainErrorCode.NOT_ENOUGH_STAKE_TO_WITHDRAW,
            f"coldkey {coldkey} has {held} rao staked on {hotkey} in subnet {netuid}, cannot remove {amount}",
        )
    add_stake(conn, netuid, hotkey, coldkey, -amount)
    add_balance(conn, coldkey, market.alpha_to_tao(conn, netuid, subnet_params(conn, netuid), amount))
    return stake_of(conn, netuid, hotkey, coldkey)


def set_delegate_take(conn: sqlite3.Connection, coldkey: str, hotkey: str, take_u16: int) -> None:
    owner = hotkey_owner(conn, hotkey)
    if owner != coldkey:
        raise RuleViolation(
            ChainErrorCode.NON_ASSOCIATED_COLDKEY, f"hotkey {hotkey} is not owned by coldkey {coldkey}; sign with its owner"
        )
    if not 0 <= take_u16 <= MAX_DELEGATE_TAKE_U16:
        raise RuleViolation(
            ChainErrorCode.OTHER, f"take must be between 0 and {MAX_DELEGATE_TAKE_U16} (18 %) as u16, got {take_u16}"
        )
    conn.execute(
        "INSERT INTO delegate_take (hotkey, take_u16) VALUES (?, ?) ON CONFLICT(hotkey) DO UPDATE SET take_u16 = ?",
        (hotkey, take_u16, take_u16),
    )


def commit(conn: sqlite3.Connection, hotkey: str, netuid: int, data: bytes, block: int) -> None:
    row = subnet_row(conn, netuid)
    params = subnet_params(conn, netuid)
    if len(data) > COMMITMENT_MAX_BYTES:
        raise RuleViolation(
            ChainErrorCode.COMMITMENT_TOO_LARGE,
            f"commitment has {len(data)} bytes; one Raw field holds at most {COMMITMENT_MAX_BYTES}",
        )
    if uid_of(conn, netuid, hotkey) is None:
        raise RuleViolation(
            ChainErrorCode.NOT_ALLOWED_TO_COMMIT,
            f"hotkey {hotkey} is not registered on subnet {netuid}; only registered hotkeys may commit",
        )
    previous = conn.execute("SELECT block FROM commitments WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)).fetchone()
    limit = int(params["commitment_rate_limit"])
    if previous is not None and limit > 0 and block - int(previous[0]) < limit:
        wait = limit - (block - int(previous[0]))
        raise RuleViolation(
            ChainErrorCode.COMMITMENT_RATE_LIMITED,
            f"hotkey {hotkey} committed at block {previous[0]}; the next commitment is allowed {wait} blocks from now",
            retry_after_blocks=wait,
        )
    epoch_index = int(row[5])
    used_row = conn.execute(
        "SELECT epoch_index, used FROM commitment_space WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)
    ).fetchone()
    used = int(used_row[1]) if used_row is not None and int(used_row[0]) == epoch_index else 0
    charge = commitment_charge(data)
    quota = int(params["commitment_max_space"])
    if used + charge > quota:
        tempo = int(params["tempo"])
        wait = max(1, int(row[4]) + tempo - block) if tempo > 0 else None
        raise RuleViolation(
            ChainErrorCode.COMMITMENT_SPACE_EXCEEDED,
            f"hotkey {hotkey} used {used} of its {quota} commitment bytes this tempo; wait for the next epoch",
            retry_after_blocks=wait,
        )
    conn.execute(
        "INSERT INTO commitment_space (netuid, hotkey, epoch_index, used) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(netuid, hotkey) DO UPDATE SET epoch_index = excluded.epoch_index, used = excluded.used",
        (netuid, hotkey, epoch_index, used + charge),
    )
    conn.execute(
        "INSERT INTO commitments (netuid, hotkey, data, block) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(netuid, hotkey) DO UPDATE SET data = excluded.data, block = excluded.block",
        (netuid, hotkey, data.decode("utf-8"), block),
    )
