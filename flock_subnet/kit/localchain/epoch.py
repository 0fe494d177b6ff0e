"""Epochs of the local chain: gather the subnet's state, run `flock_subnet.rules.consensus`, pay out.

At every `tempo` blocks (counted from the subnet's last epoch) the chain:
1. accrues the alpha of every block since the last epoch with `consensus.split_block_emission`
   (owner cut, miners' half, validators' half less the root share, `root.py`): the root share is
   paid to root stakers when TAO is staked on root on this chain, recycled otherwise;
2. runs `consensus.run_epoch` on the stored stake weights (alpha + tao_weight * root stake),
   weights, bonds, permits, last updates and registration blocks;
3. stores what the epoch computed (incentive, dividends, consensus, trust, emission, permits,
   bonds) and pays with `consensus.distribute_epoch`: every credit is added to a coldkey's stake
   on a hotkey, except root dividends, which wait to be claimed (`root.claim`); whatever is not
   credited (the owner's own incentive, rounding dust) is recycled;
4. records the epoch, the root terms it ran with and each credit, so `epoch_history` can say
   what was paid to whom and under which assumptions.

After each epoch, weight commits due in the new epoch are revealed (`reveal.py`).
`catch_up` runs due epochs in block order, so a chain opened after a pause replays them exactly
as if it had been running all along.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from flock_subnet.kit.localchain import root
from flock_subnet.kit.localchain.reveal import reveal_due
from flock_subnet.kit.localchain.store import add_stake, get_meta, set_meta


@dataclass(frozen=True)
class Payout:
    """One credit of an epoch: `amount` rao added to `coldkey`'s stake on `hotkey`.

    kind: "owner_cut", "incentive", "validator_take", "dividend" (a staker's pool share of a
    validator's dividends), "root_dividend" (alpha a root staker may claim as TAO, not stake) or
    another kind named by `flock_subnet.rules.consensus`.
    """

    coldkey: str
    hotkey: str
    amount: int
    kind: str
    uid: int | None = None


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of one subnet emitted and credited."""

    netuid: int
    block: int
    index: int
    blocks: int  # blocks of emission this epoch paid for
    emission: int  # alpha emitted over those blocks (rao), owner cut included
    owner_cut: int
    server_pending: int
    validator_pending: int
    minted: int  # credited to stakes
    recycled: int  # emitted but not credited (owner's own incentive, rounding)
    payouts: tuple[Payout, ...] = field(default_factory=tuple)
    root_proportion: float = 0.0  # share of the validators' half that went to root
    tao_weight: float = 0.0
    alpha_price: float = 1.0  # TAO per alpha in the subnet's pool at the epoch (1.0 without a pool)

    def total(self, kind: str | None = None) -> int:
        return sum(p.amount for p in self.payouts if kind is None or p.kind == kind)

    def earned(self, coldkey: str, hotkey: str | None = None, kind: str | None = None) -> int:
        """Credited to `coldkey` (optionally only through `hotkey`, only of `kind`)."""
        return sum(
            p.amount
            for p in self.payouts
            if p.coldkey == coldkey and (hotkey is None or p.hotkey == hotkey) and (kind is None or p.kind == kind)
        )

    def by_hotkey(self, kind: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.payouts:
            if kind is None or p.kind == kind:
                out[p.hotkey] = out.get(p.hotkey, 0) + p.amount
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "netuid": self.netuid,
            "block": self.block,
            "index": self.index,
            "blocks": self.blocks,
            "emission": self.emission,
            "owner_cut": self.owner_cut,
            "server_pending": self.server_pending,
            "validator_pending": self.validator_pending,
            "minted": self.minted,
            "recycled": self.recycled,
            "root_proportion": self.root_proportion,
            "tao_weight": self.tao_weight,
            "alpha_price": self.alpha_price,
            "payouts": [p.__dict__ for p in self.payouts],
        }


def _due_subnet(conn: sqlite3.Connection, block: int) -> tuple[int, int] | None:
    row = conn.execute(
        "SELECT netuid, last_epoch_block + CAST(json_extract(hyperparameters, '$.tempo') AS INTEGER) AS due "
        "FROM subnets WHERE CAST(json_extract(hyperparameters, '$.tempo') AS INTEGER) > 0 AND "
        "last_epoch_block + CAST(json_extract(hyperparameters, '$.tempo') AS INTEGER) <= ? "
        "ORDER BY due, netuid LIMIT 1",
        (block,),
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def epoch_due(conn: sqlite3.Connection, block: int) -> bool:
    """Whether some subnet has an epoch to run at or before `block`."""
    return _due_subnet(conn, block) is not None


def catch_up(conn: sqlite3.Connection, block: int) -> int:
    """Run every epoch due at or before `block`, oldest first. Returns how many ran."""
    ran = 0
    while (due := _due_subnet(conn, block)) is not None:
        run_subnet_epoch(conn, due[0], due[1])
        reveal_due(conn, due[0])
        ran += 1
    return ran


def _params(conn: sqlite3.Connection, netuid: int) -> tuple[sqlite3.Row, dict[str, Any]]:
    from flock_subnet.kit.localchain.ops import subnet_params, subnet_row

    return subnet_row(conn, netuid), subnet_params(conn, netuid)


def run_subnet_epoch(conn: sqlite3.Connection, netuid: int, block: int) -> EpochRecord:
    """Run one epoch of `netuid` at `block` and apply everything it decides."""
    from flock_subnet.rules import consensus

    row, params = _params(conn, netuid)
    owner_coldkey, owner_hotkey = str(row[1]), str(row[2])
    last_epoch_block, epoch_index = int(row[4]), int(row[5])
    blocks = max(0, block - last_epoch_block)

    pending = consensus.PendingEmission()
    terms = root.terms(conn, netuid, params)
    split = consensus.split_block_emission(
        int(params["alpha_emission_per_block"]), owner_cut_u16=int(params["subnet_owner_cut"]),
        root_share=terms.proportion, root_sell=terms.pays_root_stakers,
    )
    for _ in range(blocks):
        pending.add(split)

    neurons = conn.execute(
        "SELECT uid, hotkey, coldkey, block_at_registration, last_update, validator_permit FROM neurons "
        "WHERE netuid = ? ORDER BY uid",
        (netuid,),
    ).fetchall()
    n = len(neurons)
    hotkeys = [str(r[1]) for r in neurons]
    stake_rows = conn.execute(
        "SELECT hotkey, coldkey, amount FROM stakes WHERE netuid = ? AND amount > 0 ORDER BY hotkey, coldkey", (netuid,)
    ).fetchall()
    alpha_stake: dict[str, dict[str, int]] = {}
    for hotkey, coldkey, amount in stake_rows:
        alpha_stake.setdefault(str(hotkey), {})[str(coldkey)] = int(amount)
    root_stake = root.root_stakes(conn, hotkeys)
    weights: dict[int, list[tuple[int, int]]] = {}
    for uid, target, value in conn.execute(
        "SELECT uid, target, value FROM weights WHERE netuid = ? ORDER BY uid, target", (netuid,)
    ):
        weights.setdefault(int(uid), []).append((int(target), int(value)))
    bonds: dict[int, list[tuple[int, int]]] = {}
    for uid, target, value in conn.execute(
        "SELECT uid, target, value FROM bonds WHERE netuid = ? ORDER BY uid, target", (netuid,)
    ):
        bonds.setdefault(int(uid), []).append((int(target), int(value)))

    owner_uid = next((int(r[0]) for r in neurons if r[1] == owner_hotkey), None)
    yuma_params = consensus.YumaParams(
        tempo=int(params["tempo"]),
        kappa_u16=int(params["kappa"]),
        bonds_penalty_u16=int(params["bonds_penalty"]),
        bonds_moving_average=int(params["bonds_moving_average"]),
        yuma3=bool(params["yuma3_enabled"]),
        liquid_alpha=bool(params["liquid_alpha_enabled"]),
        alpha_low_u16=int(params["alpha_low"]),
        alpha_high_u16=int(params["alpha_high"]),
        alpha_sigmoid_steepness=int(params["alpha_sigmoid_steepness"]),
        max_allowed_validators=int(params["max_allowed_validators"]),
        stake_threshold=int(params["stake_threshold"]),
        activity_cutoff_factor_milli=int(params["activity_cutoff_factor_milli"]),
        owner_uid=owner_uid,
    )
    state = consensus.EpochState(
        bonds=bonds,
        validator_permits=[bool(r[5]) for r in neurons],
        last_step_block=last_epoch_block if epoch_index > 0 else 0,
    )
    inputs = consensus.EpochInput(
        block=block,
        stakes=root.stake_weights([sum(alpha_stake.get(h, {}).values()) for h in hotkeys], hotkeys, root_stake,
                                  terms.tao_weight),
        weights=weights,
        last_update=[int(r[4]) for r in neurons],
        block_at_registration=[int(r[3]) for r in neurons],
        # the recycled root share stays in the total Yuma halves, so miners get their whole half
        rao_emission=pending.epoch_emission + pending.recycled,
        n=n,
    )
    result = consensus.run_epoch(inputs, yuma_params, state)

    _store_epoch_outputs(conn, netuid, neurons, result)

    take_rows = conn.execute("SELECT hotkey, take_u16 FROM delegate_take").fetchall()
    accounts = consensus.SubnetAccounts(
        hotkey_owner={str(r[1]): str(r[2]) for r in neurons},
        alpha_stake=alpha_stake,
        subnet_owner_coldkey=owner_coldkey,
        subnet_owner_hotkey=owner_hotkey,
        delegate_take_u16={str(h): int(t) for h, t in take_rows if str(h) in set(hotkeys)},
        root_stake=root_stake,
        tao_weight=float(terms.tao_weight),
    )
    incentive = {hotkeys[i]: int(result.server_emission_rao[i]) for i in range(n)}
    dividends = {hotkeys[i]: int(result.validator_emission_rao[i]) for i in range(n)}
    payout = consensus.distribute_epoch(pending, incentive, dividends, accounts)

    uid_by_hotkey = {h: i for i, h in enumerate(hotkeys)}
    payouts = tuple(
        Payout(coldkey=c.coldkey, hotkey=c.hotkey, amount=int(c.amount), kind=c.kind, uid=uid_by_hotkey.get(c.hotkey))
        for c in payout.credits
        if int(c.amount) > 0
    )
    for p in payouts:
        if p.kind == "root_dividend":
            root.credit_claimable(conn, netuid, p.hotkey, p.coldkey, p.amount)
        else:
            add_stake(conn, netuid, p.hotkey, p.coldkey, p.amount)
    minted = sum(p.amount for p in payouts)
    emitted = blocks * int(params["alpha_emission_per_block"])
    set_meta(conn, "issuance", int(get_meta(conn, "issuance", "0") or 0) + minted)

    cursor = conn.execute(
        "INSERT INTO epochs (netuid, block, epoch_index, blocks, emission, owner_cut, server_pending, "
        "validator_pending, minted, recycled, root_proportion, tao_weight, alpha_price) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            netuid,
            block,
            epoch_index,
            blocks,
            emitted,
            pending.owner_cut,
            pending.server,
            pending.validator,
            minted,
            emitted - minted,
            terms.proportion,
            float(terms.tao_weight),
            float(terms.alpha_price),
        ),
    )
    epoch_id = int(cursor.lastrowid)
    conn.executemany(
        "INSERT INTO payouts (epoch_id, netuid, uid, hotkey, coldkey, kind, amount) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(epoch_id, netuid, p.uid, p.hotkey, p.coldkey, p.kind, p.amount) for p in payouts],
    )
    conn.execute(
        "UPDATE subnets SET last_epoch_block = ?, epoch_index = epoch_index + 1 WHERE netuid = ?", (block, netuid)
    )
    return EpochRecord(
        netuid=netuid,
        block=block,
        index=epoch_index,
        blocks=blocks,
        emission=emitted,
        owner_cut=pending.owner_cut,
        server_pending=pending.server,
        validator_pending=pending.validator,
        minted=minted,
        recycled=emitted - minted,
        payouts=payouts,
        root_proportion=terms.proportion,
        tao_weight=float(terms.tao_weight),
        alpha_price=float(terms.alpha_price),
    )


def _store_epoch_outputs(conn: sqlite3.Connection, netuid: int, neurons: list, result: Any) -> None:
    conn.executemany(
        "UPDATE neurons SET validator_permit = ?, active = ?, consensus = ?, incentive = ?, dividends = ?, "
        "validator_trust = ?, emission = ? WHERE netuid = ? AND uid = ?",
        [
            (
                int(bool(result.new_validator_permits[i])),
                int(bool(result.active[i])),
                int(result.consensus_u16[i]),
                int(result.incentive_u16[i]),
                int(result.dividends_u16[i]),
                int(result.validator_trust_u16[i]),
                int(result.emission_rao[i]),
                netuid,
                int(r[0]),
            )
            for i, r in enumerate(neurons)
        ],
    )
    conn.execute("DELETE FROM bonds WHERE netuid = ?", (netuid,))
    conn.executemany(
        "INSERT INTO bonds (netuid, uid, target, value) VALUES (?, ?, ?, ?)",
        [(netuid, int(uid), int(t), int(v)) for uid, row in result.bonds_u16.items() for t, v in row if int(v) > 0],
    )


def load_epoch_history(conn: sqlite3.Connection, netuid: int) -> list[EpochRecord]:
    epochs = conn.execute(
        "SELECT id, block, epoch_index, blocks, emission, owner_cut, server_pending, validator_pending, minted, recycled, "
        "root_proportion, tao_weight, alpha_price FROM epochs WHERE netuid = ? ORDER BY block, id",
        (netuid,),
    ).fetchall()
    payouts: dict[int, list[Payout]] = {}
    for epoch_id, uid, hotkey, coldkey, kind, amount in conn.execute(
        "SELECT p.epoch_id, p.uid, p.hotkey, p.coldkey, p.kind, p.amount FROM payouts p "
        "JOIN epochs e ON e.id = p.epoch_id WHERE e.netuid = ? ORDER BY p.rowid",
        (netuid,),
    ):
        payouts.setdefault(int(epoch_id), []).append(
            Payout(coldkey=str(coldkey), hotkey=str(hotkey), amount=int(amount), kind=str(kind), uid=uid)
        )
    return [
        EpochRecord(
            netuid=netuid,
            block=int(e[1]),
            index=int(e[2]),
            blocks=int(e[3]),
            emission=int(e[4]),
            owner_cut=int(e[5]),
            server_pending=int(e[6]),
            validator_pending=int(e[7]),
            minted=int(e[8]),
            recycled=int(e[9]),
            payouts=tuple(payouts.get(int(e[0]), [])),
            root_proportion=float(e[10]),
            tao_weight=float(e[11]),
            alpha_price=float(e[12]),
        )
        for e in epochs
    ]

