"""Read models of the local chain: stored rows -> the port's `Metagraph` and `Hyperparameters`."""

from __future__ import annotations

import sqlite3
from typing import Any

from flock_subnet.chain.base import U16_MAX, Hyperparameters, Metagraph, NeuronInfo
from flock_subnet.kit.localchain.rules import COMMITMENT_MAX_BYTES, activity_cutoff_blocks

# Hyperparameters with their own field in `Hyperparameters`; every other one goes to `extra`.
_TYPED = (
    "tempo",
    "weights_rate_limit",
    "commit_reveal_enabled",
    "commit_reveal_period",
    "weights_version",
    "max_weight_limit",
    "min_allowed_weights",
    "immunity_period",
    "max_allowed_uids",
    "max_allowed_validators",
    "commitment_rate_limit",
)


def build_metagraph(conn: sqlite3.Connection, netuid: int, block: int) -> Metagraph:
    """The subnet's neurons ordered by uid, stake summed over every coldkey staked on each hotkey."""
    rows = conn.execute(
        "SELECT n.uid, n.hotkey, n.coldkey, n.validator_permit, n.incentive, n.dividends, n.emission, "
        "n.last_update, n.block_at_registration, n.consensus, n.validator_trust, n.active, "
        "(SELECT COALESCE(SUM(s.amount), 0) FROM stakes s WHERE s.netuid = n.netuid AND s.hotkey = n.hotkey) "
        "FROM neurons n WHERE n.netuid = ? ORDER BY n.uid",
        (netuid,),
    ).fetchall()
    neurons = tuple(
        NeuronInfo(
            uid=int(r[0]),
            hotkey=str(r[1]),
            coldkey=str(r[2]),
            stake=int(r[12]),
            validator_permit=bool(r[3]),
            incentive=int(r[4]) / U16_MAX,
            dividends=int(r[5]) / U16_MAX,
            emission=int(r[6]),
            last_update=int(r[7]),
            block_at_registration=int(r[8]),
            consensus=int(r[9]) / U16_MAX,
            validator_trust=int(r[10]) / U16_MAX,
            active=bool(r[11]),
        )
        for r in rows
    )
    return Metagraph(netuid=netuid, block=block, neurons=neurons)


def build_hyperparameters(subnet: Any, params: dict[str, Any]) -> Hyperparameters:
    """`subnet` is the stored subnet row (owner coldkey, owner hotkey, ..., last epoch, epoch index)."""
    extra = {key: value for key, value in params.items() if key not in _TYPED}
    extra.update(owner_coldkey=str(subnet[1]), last_epoch_block=int(subnet[4]), epoch_index=int(subnet[5]))
    return Hyperparameters(
        tempo=int(params["tempo"]),
        weights_rate_limit=int(params["weights_rate_limit"]),
        commit_reveal_enabled=bool(params["commit_reveal_enabled"]),
        reveal_period_epochs=int(params["commit_reveal_period"]),
        weights_version=int(params["weights_version"]),
        max_weight_limit=int(params["max_weight_limit"]),
        min_allowed_weights=int(params["min_allowed_weights"]),
        immunity_period=int(params["immunity_period"]),
        max_allowed_uids=int(params["max_allowed_uids"]),
        max_allowed_validators=int(params["max_allowed_validators"]),
        activity_cutoff=activity_cutoff_blocks(params),
        commitment_rate_limit=int(params["commitment_rate_limit"]),
        commitment_max_bytes=COMMITMENT_MAX_BYTES,
        owner_hotkey=str(subnet[2]),
        extra=extra,
    )
