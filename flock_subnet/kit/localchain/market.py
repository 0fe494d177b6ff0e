"""Dynamic TAO on the local chain, when a subnet asks for it: staking through the subnet's alpha
pool and a registration burn that moves.

- `pool_tao` / `pool_alpha` (rao, 0 by default: no pool, 1 TAO stakes 1 alpha): the pool's
  starting reserves. Staking then buys alpha at the pool's price with slippage, unstaking sells
  it back (`consensus.dynamic.AlphaPool`); the reserves live in `meta` as `pool:<netuid>`.
- `moving_burn` (off by default: the burn is the fixed `burn`): each registration pays the burn
  decayed since the last one (half-life 360 blocks, never below `burn`), and leaves it ×1.26
  (at most `max_burn`); kept in `meta` as `burn:<netuid>`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flock_subnet.kit.localchain.store import get_meta, set_meta
from flock_subnet.rules.consensus.dynamic import AlphaPool, burn_after_registration, decayed_burn


def _pool(conn: sqlite3.Connection, netuid: int, params: dict[str, Any]) -> AlphaPool | None:
    stored = get_meta(conn, f"pool:{netuid}")
    if stored is not None:
        tao, alpha = (int(x) for x in stored.split(","))
        return AlphaPool(tao, alpha)
    if int(params["pool_tao"]) > 0 and int(params["pool_alpha"]) > 0:
        return AlphaPool(int(params["pool_tao"]), int(params["pool_alpha"]))
    return None


def _keep(conn: sqlite3.Connection, netuid: int, pool: AlphaPool) -> None:
    set_meta(conn, f"pool:{netuid}", f"{pool.tao_in},{pool.alpha_in}")


def pool_state(conn: sqlite3.Connection, netuid: int, params: dict[str, Any]) -> AlphaPool | None:
    """The subnet's pool now (None: no pool, stake is 1:1)."""
    return _pool(conn, netuid, params)


def tao_to_alpha(conn: sqlite3.Connection, netuid: int, params: dict[str, Any], tao: int) -> int:
    """Alpha bought by staking `tao` (the pool moves); `tao` itself without a pool."""
    pool = _pool(conn, netuid, params)
    if pool is None:
        return tao
    alpha, after = pool.buy_alpha(tao)
    _keep(conn, netuid, after)
    return alpha


def alpha_to_tao(conn: sqlite3.Connection, netuid: int, params: dict[str, Any], alpha: int) -> int:
    """TAO returned by unstaking `alpha` (the pool moves); `alpha` itself without a pool."""
    pool = _pool(conn, netuid, params)
    if pool is None:
        return alpha
    tao, after = pool.sell_alpha(alpha)
    _keep(conn, netuid, after)
    return tao


def current_burn(conn: sqlite3.Connection, netuid: int, params: dict[str, Any], block: int) -> int:
    """What a registration at `block` burns."""
    floor = int(params["burn"])
    stored = get_meta(conn, f"burn:{netuid}") if params["moving_burn"] else None
    if stored is None:
        return floor
    burn, since = (int(x) for x in stored.split(","))
    return decayed_burn(burn, max(0, block - since), floor)


def registered(conn: sqlite3.Connection, netuid: int, params: dict[str, Any], block: int, paid: int) -> None:
    """Move the burn after a registration that paid `paid`."""
    if params["moving_burn"]:
        after = burn_after_registration(paid, int(params["burn"]), max(int(params["burn"]), int(params["max_burn"])))
        set_meta(conn, f"burn:{netuid}", f"{after},{block}")
