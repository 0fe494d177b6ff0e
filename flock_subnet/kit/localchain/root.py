"""The root network on the local chain: TAO staked on root, its weight on a subnet, claimable dividends.

As on subtensor under dynamic TAO:
- TAO staked on the root network on a hotkey (`root_stakes`, 1 TAO = 1 unit: root has no pool)
  counts on every subnet where that hotkey is registered as `tao_weight * root stake`, next to
  the hotkey's alpha (`dynamic.stake_weight_rao`): validator permits and Yuma's stake rank by it.
- The root proportion of a subnet's block emission is
  `tao_weight * root TAO / (tao_weight * root TAO + alpha issuance)`, root TAO being every TAO
  staked on root here plus the `root_tao` hyperparameter (root stake assumed to exist elsewhere)
  and alpha issuance the subnet's staked alpha plus its pool's alpha reserve.
- With root stake on this chain, the root share is paid as root dividends (the validator's take
  as alpha stake, the rest to the hotkey's root stakers); otherwise it is recycled. (Subtensor
  also recycles it while the network's summed EMA price is at most 1; one local chain has no
  network of subnet prices, so that condition is left out.) A root
  staker's dividends wait in `root_claimable` (alpha) until `claim`, which swaps them through the
  subnet's pool into TAO and stakes that TAO on root for the staker (subtensor's "swap" claim).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from flock_subnet.chain.base import ChainErrorCode
from flock_subnet.kit.localchain import market
from flock_subnet.kit.localchain.rules import RuleViolation
from flock_subnet.kit.localchain.store import add_balance, balance_of
from flock_subnet.rules.consensus.dynamic import stake_weight_rao
from flock_subnet.rules.consensus.emission import root_proportion


@dataclass(frozen=True)
class RootTerms:
    """What an epoch of one subnet assumes about root: the numbers the payouts table states."""

    tao_weight: Fraction
    root_tao: int  # TAO on root counted for the proportion (this chain's stakes + the hyperparameter)
    root_tao_here: int  # TAO staked on root on this chain: the stakers who can be paid
    alpha_issuance: int  # staked alpha + the pool's alpha reserve
    alpha_price: Fraction  # TAO per alpha (1 without a pool)

    @property
    def proportion(self) -> float:
        return root_proportion(float(self.tao_weight), self.root_tao, max(1, self.alpha_issuance))

    @property
    def pays_root_stakers(self) -> bool:
        """Root dividends go to stakers (claimable) rather than being recycled."""
        return self.root_tao_here > 0 and self.tao_weight > 0


def tao_weight(params: dict[str, Any]) -> Fraction:
    return Fraction(int(params["tao_weight_milli"]), 1000)


def total_root_stake(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(SUM(amount), 0) FROM root_stakes").fetchone()[0])


def root_stakes(conn: sqlite3.Connection, hotkeys: list[str]) -> dict[str, dict[str, int]]:
    """hotkey -> {coldkey: TAO on root} for the given hotkeys."""
    wanted = set(hotkeys)
    out: dict[str, dict[str, int]] = {}
    for hotkey, coldkey, amount in conn.execute(
        "SELECT hotkey, coldkey, amount FROM root_stakes WHERE amount > 0 ORDER BY hotkey, coldkey"
    ):
        if hotkey in wanted:
            out.setdefault(str(hotkey), {})[str(coldkey)] = int(amount)
    return out


def terms(conn: sqlite3.Connection, netuid: int, params: dict[str, Any]) -> RootTerms:
    staked = int(conn.execute("SELECT COALESCE(SUM(amount), 0) FROM stakes WHERE netuid = ?", (netuid,)).fetchone()[0])
    pool = market.pool_state(conn, netuid, params)
    here = total_root_stake(conn)
    return RootTerms(
        tao_weight=tao_weight(params),
        root_tao=int(params["root_tao"]) + here,
        root_tao_here=here,
        alpha_issuance=staked + (pool.alpha_in if pool is not None else 0),
        alpha_price=pool.price if pool is not None else Fraction(1),
    )


def stake_weights(alpha: list[int], hotkeys: list[str], root: dict[str, dict[str, int]], weight: Fraction) -> list[int]:
    """Each uid's stake weight (rao): alpha + tao_weight * root stake."""
    return [stake_weight_rao(a, sum(root.get(h, {}).values()), weight) for a, h in zip(alpha, hotkeys)]


def credit_claimable(conn: sqlite3.Connection, netuid: int, hotkey: str, coldkey: str, alpha: int) -> None:
    conn.execute(
        "INSERT INTO root_claimable (netuid, hotkey, coldkey, alpha) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(netuid, hotkey, coldkey) DO UPDATE SET alpha = alpha + excluded.alpha",
        (netuid, hotkey, coldkey, int(alpha)),
    )


def claimable(conn: sqlite3.Connection, coldkey: str, netuid: int) -> dict[str, int]:
    """hotkey -> root dividends (alpha) `coldkey` may claim on `netuid`."""
    rows = conn.execute(
        "SELECT hotkey, alpha FROM root_claimable WHERE netuid = ? AND coldkey = ? AND alpha > 0 ORDER BY hotkey",
        (netuid, coldkey),
    ).fetchall()
    return {str(h): int(a) for h, a in rows}


def claim(conn: sqlite3.Connection, coldkey: str, netuid: int, params: dict[str, Any]) -> int:
    """Swap everything `coldkey` may claim on `netuid` into TAO, staked on root on the same hotkeys.

    Returns the TAO claimed (rao). Each hotkey's claim is one swap through the pool, in hotkey order.
    """
    claimed = 0
    for hotkey, alpha in claimable(conn, coldkey, netuid).items():
        tao = market.alpha_to_tao(conn, netuid, params, alpha)
        conn.execute(
            "UPDATE root_claimable SET alpha = 0 WHERE netuid = ? AND hotkey = ? AND coldkey = ?", (netuid, hotkey, coldkey)
        )
        _add_root(conn, hotkey, coldkey, tao)
        claimed += tao
    return claimed


def _add_root(conn: sqlite3.Connection, hotkey: str, coldkey: str, delta: int) -> None:
    conn.execute(
        "INSERT INTO root_stakes (hotkey, coldkey, amount) VALUES (?, ?, ?) "
        "ON CONFLICT(hotkey, coldkey) DO UPDATE SET amount = amount + excluded.amount",
        (hotkey, coldkey, int(delta)),
    )
    conn.execute("DELETE FROM root_stakes WHERE hotkey = ? AND coldkey = ? AND amount = 0", (hotkey, coldkey))


def root_stake_of(conn: sqlite3.Connection, hotkey: str, coldkey: str) -> int:
    row = conn.execute("SELECT amount FROM root_stakes WHERE hotkey = ? AND coldkey = ?", (hotkey, coldkey)).fetchone()
    return 0 if row is None else int(row[0])


def stake_on_root(conn: sqlite3.Connection, coldkey: str, hotkey: str, amount: int, owner: str | None) -> int:
    """Move `amount` TAO from the coldkey's free balance onto root on `hotkey`. Returns the root stake after."""
    if amount <= 0:
        raise RuleViolation(ChainErrorCode.OTHER, f"root stake amount must be a positive number of rao, got {amount}")
    if owner is None:
        raise RuleViolation(
            ChainErrorCode.NOT_REGISTERED,
            f"hotkey {hotkey} is not known to this chain; register it on a subnet before staking on root",
        )
    balance = balance_of(conn, coldkey)
    if balance < amount:
        raise RuleViolation(
            ChainErrorCode.NOT_ENOUGH_BALANCE, f"coldkey {coldkey} holds {balance} rao, cannot stake {amount}; fund it first"
        )
    add_balance(conn, coldkey, -amount)
    _add_root(conn, hotkey, coldkey, amount)
    return root_stake_of(conn, hotkey, coldkey)


def unstake_from_root(conn: sqlite3.Connection, coldkey: str, hotkey: str, amount: int) -> int:
    """Move `amount` TAO of root stake back to the coldkey's free balance. Returns the root stake left."""
    held = root_stake_of(conn, hotkey, coldkey)
    if amount <= 0 or held < amount:
        raise RuleViolation(
            ChainErrorCode.NOT_ENOUGH_STAKE_TO_WITHDRAW,
            f"coldkey {coldkey} has {held} rao on root on {hotkey}, cannot remove {amount}",
        )
    _add_root(conn, hotkey, coldkey, -amount)
    add_balance(conn, coldkey, amount)
    return root_stake_of(conn, hotkey, coldkey)
