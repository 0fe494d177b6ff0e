"""The sparse epoch (`epoch_mechanism`) in exact integer fixed-point arithmetic.

Steps, in the chain's order:
 1. activity: inactive if last_update + cutoff < block;
 2. stake: threshold filter (owner exempt), normalise in I64F64, narrow to I32F32;
 3. permits: this epoch uses the stored ones (owner forced); new = top-k non-zero stake;
 4. active stake = stake masked by inactivity and missing permits, normalised;
 5. weights: permit rows, self-weights (owner kept), outdated, commit-reveal masks, row-normalise;
 6. consensus = stake-weighted median per column (mid-pivot quick-select);
 7. clip to consensus, validator trust = row sums;
 8. ranks = active stake x clipped weights, incentive = normalised ranks;
 9. weights for bonds = interpolation by the bonds penalty;
10. bonds and dividends (legacy EMA of column-normalised bonds, or Yuma3 with liquid alpha);
11. emission shares, with the stake fallback when nothing was earned;
12. rao amounts; 13. stored u16 values and bond rows.

Matrices are sparse rows: `list[list[tuple[col, raw]]]`, columns ascending, raw I32F32 ints.
"""

from __future__ import annotations

from flock_subnet.rules.consensus import fixed
from flock_subnet.rules.consensus.fixed import FRAC, ONE, U16_MAX
from flock_subnet.rules.consensus.median import weighted_median_columns
from flock_subnet.rules.consensus.prepare import Prepared
from flock_subnet.rules.consensus.schema import EpochResult, EpochState

Rows = list[list[tuple[int, int]]]


def normalize(values: list[int]) -> list[int]:
    """`inplace_normalize`: x / sum(x) (unchanged when the sum is 0)."""
    total = sum(values)
    if total == 0:
        return values
    if total > 0:
        return [(v << FRAC) // total if v >= 0 else fixed.div(v, total) for v in values]
    return [fixed.div(v, total) for v in values]


def col_sums(rows: Rows, n: int) -> list[int]:
    sums = [0] * n
    for row in rows:
        for j, v in row:
            sums[j] += v
    return sums


def col_normalize(rows: Rows, n: int) -> Rows:
    """`inplace_col_normalize_sparse` (entries of zero-sum columns unchanged)."""
    sums = col_sums(rows, n)
    return [[(j, (v << FRAC) // sums[j] if sums[j] else v) for j, v in row] for row in rows]


def col_max_upscale(rows: Rows, n: int) -> Rows:
    """`inplace_col_max_upscale_sparse`: divide each column by its maximum."""
    maxima = [0] * n
    for row in rows:
        for j, v in row:
            if v > maxima[j]:
                maxima[j] = v
    return [[(j, (v << FRAC) // maxima[j] if maxima[j] else v) for j, v in row] for row in rows]


def ema_sparse(new: Rows, old: Rows, alpha: int) -> Rows:
    """`mat_ema_sparse`: alpha*new + (1-alpha)*old, entries > 0 kept, columns ascending."""
    keep = ONE - alpha
    out: Rows = []
    for new_row, old_row in zip(new, old):
        acc: dict[int, int] = {}
        for j, v in new_row:
            acc[j] = acc.get(j, 0) + ((alpha * v) >> FRAC)
        for j, v in old_row:
            acc[j] = acc.get(j, 0) + ((keep * v) >> FRAC)
        out.append(sorted((j, v) for j, v in acc.items() if v > 0))
    return out


def ema_liquid_sparse(new: Rows, old: Rows, alphas: list[list[int]]) -> Rows:
    """`mat_ema_alpha_sparse`: per entry min(1, (1-a)*old + max(0, a*new)) over new's columns.

    `alphas[i]` lists the alpha of each entry of `new[i]`, in the same order.
    """
    out: Rows = []
    for new_row, old_row, alpha_row in zip(new, old, alphas):
        old_map = dict(old_row)
        row = []
        for (j, w), a in zip(new_row, alpha_row):
            b = old_map.get(j)
            decayed = ((ONE - a) * b) >> FRAC if b is not None else 0
            purchase = (a * w) >> FRAC
            if purchase < 0:
                purchase = 0
            value = decayed + purchase
            if value > ONE:
                value = ONE
            if value > 0:
                row.append((j, value))
        out.append(row)
    return out


def epoch(p: Prepared) -> EpochResult:
    n = p.n
    params = p.params
    owner = p.owner_uid

    # 2. stake (I64F64 normalisation then narrowing to I32F32 equals one floor of s*2^32/sum)
    filtered = [s if (i == owner or s >= params.stake_threshold) else 0 for i, s in enumerate(p.stakes)]
    total = sum(filtered)
    stake = [(s << FRAC) // total for s in filtered] if total else [0] * n

    # 3. permits
    permit = p.permits_in_use
    new_permits = _topk_nonzero(stake, params.max_allowed_validators)
    if owner is not None:
        new_permits[owner] = True

    # 4. active stake
    active_stake = normalize([s if (p.active[i] and permit[i]) else 0 for i, s in enumerate(stake)])

    # 5. weights: already masked by `prepare`; row-normalise the u16 integers
    weights: Rows = []
    for row in p.weight_rows:
        row_sum = 0
        for _, w in row:
            row_sum += w
        if row_sum > 0:
            weights.append([(j, (w << FRAC) // row_sum) for j, w in row])
        else:
            weights.append([(j, w << FRAC) for j, w in row])

    # 6. consensus
    kappa = fixed.u16_to_proportion(params.kappa_u16)
    voters = [i for i in range(n) if active_stake[i] > 0]
    columns = [[0] * len(voters) for _ in range(n)]
    for k, i in enumerate(voters):
        for j, v in weights[i]:
            columns[j][k] = v
    consensus = weighted_median_columns([active_stake[i] for i in voters], columns, kappa, normalize)

    # 7. clip and validator trust
    clipped: Rows = []
    for row in weights:
        out = []
        for j, v in row:
            c = consensus[j]
            if c < v:
                if c > 0:
                    out.append((j, c))
            else:
                out.append((j, v))
        clipped.append(out)
    validator_trust = [sum(v for _, v in row) for row in clipped]

    # 8. ranks and incentive
    ranks = [0] * n
    for i, row in enumerate(clipped):
        s = active_stake[i]
        if s:
            for j, v in row:
                ranks[j] += (s * v) >> FRAC
    incentive = normalize(ranks)

    # 9. weights for bonds
    beta = fixed.u16_to_proportion(params.bonds_penalty_u16)
    if beta == 0:
        weights_for_bonds = weights
    elif beta == ONE:
        weights_for_bonds = clipped
    else:
        weights_for_bonds = _interpolate(weights, clipped, beta)

    # bonds delta (legacy input; reported in both modes)
    delta = [[(j, (v * active_stake[i]) >> FRAC) for j, v in row] for i, row in enumerate(weights_for_bonds)]
    delta = col_normalize(delta, n)

    # 10. bonds and dividends
    if params.yuma3:
        old = [
            [(j, (u << FRAC) // U16_MAX) for j, u in row if p.bond_kept(j)] for row in p.bond_rows
        ]
        if params.liquid_alpha and any(consensus):
            liquid = fixed.LiquidAlpha(
                fixed.u16_to_proportion(params.alpha_low_u16),
                fixed.u16_to_proportion(params.alpha_high_u16),
                fixed.from_int(params.alpha_sigmoid_steepness),
            )
            if p.dense:  # every column: bonds without a weight entry decay instead of dropping
                ema = _ema_liquid_dense(weights_for_bonds, old, consensus, liquid)
            else:
                diffs = []
                for row, old_row in zip(weights_for_bonds, old):
                    old_map = dict(old_row)
                    diffs.append([liquid.diff(consensus[j], w, old_map.get(j, 0)) for j, w in row])
                liquid.prefill(d for row in diffs for d in row)
                cache = liquid.cache
                alphas = [[cache[d] for d in row] for row in diffs]
                ema = ema_liquid_sparse(weights_for_bonds, old, alphas)
        else:
            ema = ema_sparse(weights_for_bonds, old, fixed.bonds_ema_alpha(params.bonds_moving_average))
        ema_norm = col_normalize(ema, n)
        per_validator = [sum((v * incentive[j]) >> FRAC for j, v in row) for row in ema_norm]
        dividends = normalize([(t * a) >> FRAC for t, a in zip(per_validator, active_stake)])
        stored = [[(j, fixed.proportion_to_u16(v)) for j, v in row] for row in ema]
    else:
        old = [[(j, u << FRAC) for j, u in row if p.bond_kept(j)] for row in p.bond_rows]
        old = col_normalize(old, n)
        ema = ema_sparse(delta, old, fixed.bonds_ema_alpha(params.bonds_moving_average))
        ema = col_normalize(ema, n)
        dividends = [0] * n
        for i, row in enumerate(ema):
            acc = 0
            for j, v in row:
                acc += (incentive[j] * v) >> FRAC
            dividends[i] = acc
        dividends = normalize(dividends)
        stored = [[(j, fixed.proportion_to_u16(v)) for j, v in row] for row in col_max_upscale(ema, n)]

    # 11. emission shares
    combined = [a + b for a, b in zip(incentive, dividends)]
    emission_sum = sum(combined)
    emergency = emission_sum == 0
    if emergency:
        server = list(incentive)
        fallback = stake if not any(active_stake) else active_stake
        validator = list(fallback)
        combined_norm = list(fallback)
    else:
        server = [(v << FRAC) // emission_sum for v in incentive]
        validator = [(v << FRAC) // emission_sum for v in dividends]
        combined_norm = normalize(combined)

    # 12. rao
    e = p.rao_emission
    server_rao = [(v * e) >> FRAC for v in server]
    validator_rao = [(v * e) >> FRAC for v in validator]
    combined_rao = [(v * e) >> FRAC for v in combined_norm]

    # 13. storage
    bonds_u16 = {i: stored[i] for i in range(n) if new_permits[i]}
    to_f = fixed.to_float
    u16 = fixed.proportion_to_u16
    return EpochResult(
        n=n,
        block=p.block,
        mode="exact",
        active=list(p.active),
        normalised_stake=[to_f(v) for v in stake],
        active_stake=[to_f(v) for v in active_stake],
        consensus=[to_f(v) for v in consensus],
        incentive=[to_f(v) for v in incentive],
        dividends=[to_f(v) for v in dividends],
        validator_trust=[to_f(v) for v in validator_trust],
        consensus_u16=[u16(v) for v in consensus],
        incentive_u16=[u16(v) for v in incentive],
        dividends_u16=[u16(v) for v in dividends],
        validator_trust_u16=[u16(v) for v in validator_trust],
        stake_weight_u16=[u16(v) for v in stake],
        normalized_server_emission=[to_f(v) for v in server],
        normalized_validator_emission=[to_f(v) for v in validator],
        normalized_combined_emission=[to_f(v) for v in combined_norm],
        server_emission_rao=server_rao,
        validator_emission_rao=validator_rao,
        emission_rao=combined_rao,
        new_validator_permits=new_permits,
        bonds_u16=bonds_u16,
        weights_mask_norm=[[(j, to_f(v)) for j, v in row] for row in weights],
        bonds_delta_norm=[[(j, to_f(v)) for j, v in row] for row in delta],
        emergency=emergency,
        state=EpochState(bonds=bonds_u16, validator_permits=list(new_permits), last_step_block=p.block),
    )


def _topk_nonzero(values: list[int], k: int) -> list[bool]:
    """`is_topk_nonzero`: non-zero entries, minus the n-k smallest (stable sort: higher uid wins ties)."""
    n = len(values)
    result = [v != 0 for v in values]
    if n < k:
        return result
    order = sorted(range(n), key=values.__getitem__)
    for idx in order[: n - k]:
        result[idx] = False
    return result


def _ema_liquid_dense(new: Rows, old: Rows, consensus: list[int], liquid) -> Rows:
    """`mat_ema_alpha` (dense): min(1, (1-a)*old + max(0, a*new)) over every column."""
    out: Rows = []
    for new_row, old_row in zip(new, old):
        w_map = dict(new_row)
        b_map = dict(old_row)
        row = []
        for j in sorted(set(w_map) | set(b_map)):
            w = w_map.get(j, 0)
            b = b_map.get(j, 0)
            a = liquid(consensus[j], w, b)
            purchase = (a * w) >> FRAC
            value = (((ONE - a) * b) >> FRAC) + (purchase if purchase > 0 else 0)
            if value > ONE:
                value = ONE
            if value > 0:
                row.append((j, value))
        out.append(row)
    return out


def _interpolate(first: Rows, second: Rows, ratio: int) -> Rows:
    """`interpolate_sparse` for 0 < ratio < 1: first + ratio*(second-first), entries > 0 kept."""
    out: Rows = []
    for a_row, b_row in zip(first, second):
        a = dict(a_row)
        b = dict(b_row)
        row = []
        for j in sorted(set(a) | set(b)):
            x = a.get(j, 0)
            value = x + ((ratio * (b.get(j, 0) - x)) >> FRAC)
            if value > 0:
                row.append((j, value))
        out.append(row)
    return out


def weighted_median_col(stake: list[int], rows: Rows, columns: int, majority: int) -> list[int]:
    """`weighted_median_col_sparse`: consensus per column for raw stakes and sparse score rows."""
    voters = [i for i, s in enumerate(stake) if s > 0]
    cols = [[0] * len(voters) for _ in range(columns)]
    for k, i in enumerate(voters):
        for j, v in rows[i] if i < len(rows) else ():
            cols[j][k] = v
    return weighted_median_columns([stake[i] for i in voters], cols, majority, normalize)


def mat_ema_alpha_sparse(new: Rows, old: Rows, alpha: list[list[int]]) -> Rows:
    """`mat_ema_alpha_sparse` with a dense alpha matrix (alpha[i][j] for every column j)."""
    per_entry = [[alpha[i][j] for j, _ in row] for i, row in enumerate(new)]
    return ema_liquid_sparse(new, old, per_entry)
