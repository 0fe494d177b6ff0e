"""The sparse epoch in float64 (numpy), for fast exploration.

Same steps and the same sparse semantics as `exact.py` (explicit zero entries, dropped clipped
entries, liquid-alpha bonds only where a weight entry exists), kept as dense matrices plus a
presence mask. Proportions agree with exact mode to about 1e-9; stored u16 values and rao
amounts can differ by one where the exact value sits on a floor boundary.
"""

from __future__ import annotations

import numpy as np

from flock_subnet.rules.consensus.median import weighted_median_columns
from flock_subnet.rules.consensus.prepare import Prepared
from flock_subnet.rules.consensus.schema import EpochResult, EpochState

U16 = 65_535.0


def _normalize(x: np.ndarray) -> np.ndarray:
    total = x.sum()
    return x / total if total != 0 else x


def _normalize_list(values: list[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values] if total != 0 else values


def _col_normalize(m: np.ndarray) -> np.ndarray:
    sums = m.sum(axis=0)
    safe = np.where(sums == 0, 1.0, sums)
    return m / safe


def _to_u16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x * U16), 0, U16).astype(np.int64)


def _dense(rows, n: int) -> tuple[np.ndarray, np.ndarray]:
    values = np.zeros((n, n))
    present = np.zeros((n, n), dtype=bool)
    for i, row in enumerate(rows):
        if row:
            cols = np.fromiter((j for j, _ in row), dtype=np.int64, count=len(row))
            values[i, cols] = [v for _, v in row]
            present[i, cols] = True
    return values, present


def _sparse(values: np.ndarray, present: np.ndarray) -> list[list[tuple[int, float]]]:
    out = []
    for i in range(values.shape[0]):
        cols = np.flatnonzero(present[i])
        out.append([(int(j), float(values[i, j])) for j in cols])
    return out


def epoch(p: Prepared) -> EpochResult:
    n = p.n
    params = p.params
    owner = p.owner_uid
    stakes = np.array(
        [s if (i == owner or s >= params.stake_threshold) else 0 for i, s in enumerate(p.stakes)], dtype=float
    )
    stake = _normalize(stakes) if n else stakes

    permit = np.array(p.permits_in_use, dtype=bool)
    new_permits = _topk_nonzero(stake, params.max_allowed_validators)
    if owner is not None:
        new_permits[owner] = True
    active = np.array(p.active, dtype=bool)
    active_stake = _normalize(np.where(active & permit, stake, 0.0))

    # 5. weights (masks already applied), row-normalised
    w, wp = _dense(p.weight_rows, n)
    row_sums = w.sum(axis=1)
    w = np.where(row_sums[:, None] > 0, w / np.where(row_sums == 0, 1.0, row_sums)[:, None], w)

    # 6. consensus
    kappa = params.kappa_u16 / U16
    voters = np.flatnonzero(active_stake > 0)
    columns = w[voters].T.tolist()
    consensus = np.array(
        weighted_median_columns(active_stake[voters].tolist(), columns, kappa, _normalize_list), dtype=float
    )
    if consensus.size == 0:
        consensus = np.zeros(n)

    # 7-8. clip, trust, ranks, incentive
    cp = wp & ((w <= consensus[None, :]) | (consensus[None, :] > 0))
    clipped = np.where(cp, np.minimum(w, consensus[None, :]), 0.0)
    validator_trust = clipped.sum(axis=1)
    ranks = active_stake @ clipped
    incentive = _normalize(ranks)

    # 9. weights for bonds
    beta = params.bonds_penalty_u16 / U16
    if beta == 0:
        wb, wbp = w, wp
    elif beta == 1:
        wb, wbp = clipped, cp
    else:
        wb = w + beta * (clipped - w)
        wbp = wb > 0
        wb = np.where(wbp, wb, 0.0)
    delta = _col_normalize(wb * active_stake[:, None])

    kept = np.array([p.bond_kept(j) for j in range(n)], dtype=bool)
    b_raw, bp = _dense(p.bond_rows, n)
    bp &= kept[None, :]
    b_raw = np.where(bp, b_raw, 0.0)
    fixed_alpha = 1.0 - params.bonds_moving_average / 1_000_000

    # 10. bonds and dividends
    if params.yuma3:
        old = b_raw / U16
        if params.liquid_alpha and np.any(consensus != 0):
            alpha = _liquid_alpha(wb, old, consensus, params)
            decayed = np.where(bp, (1.0 - alpha) * old, 0.0)
            ema = np.minimum(1.0, decayed + np.maximum(0.0, alpha * wb))
            # sparse: only columns with a weight entry survive; dense: decayed bonds stay too
            ep = ((wbp | bp) if p.dense else wbp) & (ema > 0)
        else:
            ema = fixed_alpha * wb + (1.0 - fixed_alpha) * old
            ep = (wbp | bp) & (ema > 0)
        ema = np.where(ep, ema, 0.0)
        per_validator = _col_normalize(ema) @ incentive
        dividends = _normalize(per_validator * active_stake)
        stored = np.where(ep, _to_u16(ema), 0)
    else:
        old = _col_normalize(b_raw)
        ema = fixed_alpha * delta + (1.0 - fixed_alpha) * old
        ep = (wbp | bp) & (ema > 0)
        ema = _col_normalize(np.where(ep, ema, 0.0))
        dividends = _normalize(ema @ incentive)
        maxima = ema.max(axis=0) if n else np.zeros(0)
        upscaled = ema / np.where(maxima == 0, 1.0, maxima)[None, :]
        stored = np.where(ep, _to_u16(upscaled), 0)

    # 11. emission shares
    combined = incentive + dividends
    emission_sum = combined.sum()
    emergency = bool(emission_sum == 0)
    if emergency:
        server = incentive.copy()
        fallback = stake if not np.any(active_stake) else active_stake
        validator = fallback.copy()
        combined_norm = fallback.copy()
    else:
        server = incentive / emission_sum
        validator = dividends / emission_sum
        combined_norm = _normalize(combined)

    e = p.rao_emission

    def rao(x: np.ndarray) -> list[int]:
        return [int(v) for v in np.floor(x * e)]

    bonds_u16 = {
        i: [(int(j), int(stored[i, j])) for j in np.flatnonzero(ep[i])] for i in range(n) if new_permits[i]
    }
    permits_list = [bool(v) for v in new_permits]
    return EpochResult(
        n=n,
        block=p.block,
        mode="float",
        active=list(p.active),
        normalised_stake=stake.tolist(),
        active_stake=active_stake.tolist(),
        consensus=consensus.tolist(),
        incentive=incentive.tolist(),
        dividends=dividends.tolist(),
        validator_trust=validator_trust.tolist(),
        consensus_u16=_to_u16(consensus).tolist(),
        incentive_u16=_to_u16(incentive).tolist(),
        dividends_u16=_to_u16(dividends).tolist(),
        validator_trust_u16=_to_u16(validator_trust).tolist(),
        stake_weight_u16=_to_u16(stake).tolist(),
        normalized_server_emission=server.tolist(),
        normalized_validator_emission=validator.tolist(),
        normalized_combined_emission=combined_norm.tolist(),
        server_emission_rao=rao(server),
        validator_emission_rao=rao(validator),
        emission_rao=rao(combined_norm),
        new_validator_permits=permits_list,
        bonds_u16=bonds_u16,
        weights_mask_norm=_sparse(w, wp),
        bonds_delta_norm=_sparse(delta, wbp),
        emergency=emergency,
        state=EpochState(bonds=bonds_u16, validator_permits=list(permits_list), last_step_block=p.block),
    )


def _topk_nonzero(values: np.ndarray, k: int) -> np.ndarray:
    n = values.size
    result = values != 0
    if n < k:
        return result
    order = np.argsort(values, kind="stable")
    result[order[: n - k]] = False
    return result


def _liquid_alpha(weights: np.ndarray, bonds: np.ndarray, consensus: np.ndarray, params) -> np.ndarray:
    low = params.alpha_low_u16 / U16
    high = params.alpha_high_u16 / U16
    steep = params.alpha_sigmoid_steepness / 100.0
    buy = np.clip(weights - consensus[None, :], 0.0, 1.0)
    sell = np.clip(bonds - weights, 0.0, 1.0)
    diff = np.where(weights >= bonds, buy, sell)
    sigmoid = 1.0 / (1.0 + np.exp(np.clip(-steep * (diff - 0.5), -20.0, 20.0)))
    return np.clip(low + sigmoid * (high - low), low, high)
