"""Input checks and the integer-only parts of the epoch that both numeric modes share.

Activity (step 1), the permits in use (step 3) and the weight masks of step 5 (permit rows,
self-weights except the owner's, outdated weights, commit-reveal) work on block numbers and u16
weights only, so they are computed once here and both modes start from the same masked rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flock_subnet.rules.consensus.errors import ConsensusInputError
from flock_subnet.rules.consensus.schema import EpochInput, EpochState, YumaParams

U16Rows = list[list[tuple[int, int]]]


@dataclass
class Prepared:
    n: int
    block: int
    params: YumaParams
    owner_uid: int | None
    stakes: list[int]
    last_update: list[int]
    block_at_registration: list[int]
    active: list[bool]
    permits_in_use: list[bool]
    weight_rows: U16Rows
    bond_rows: U16Rows
    bond_cutoff_block: int
    rao_emission: int
    dense: bool = False

    def bond_kept(self, j: int) -> bool:
        """Bonds to uid j survive the recently-registered mask (registered before t_last)."""
        return self.bond_cutoff_block > self.block_at_registration[j]


def _padded(values: Sequence[int], n: int, name: str) -> list[int]:
    out = [int(v) for v in values][:n]
    if len(values) > n:
        raise ConsensusInputError(f"{name} has {len(values)} entries but the subnet has n={n} uids")
    return out + [0] * (n - len(out))


def _rows(rows: Mapping[int, Sequence[tuple[int, int]]], n: int, name: str) -> U16Rows:
    out: U16Rows = [[] for _ in range(n)]
    for raw_i, row in rows.items():
        i = int(raw_i)
        if i < 0:
            raise ConsensusInputError(f"{name}: row uid {i} is negative")
        if i >= n:
            continue  # rows of uids beyond n are not read by the epoch
        seen: dict[int, int] = {}
        for raw_j, raw_v in row:
            j, v = int(raw_j), int(raw_v)
            if not 0 <= v <= 65_535:
                raise ConsensusInputError(f"{name}[{i}]: value {v} for uid {j} is not a u16 (0..65535)")
            if j in seen:
                raise ConsensusInputError(f"{name}[{i}]: uid {j} appears twice; give each uid once")
            if 0 <= j < n:
                seen[j] = v
        out[i] = sorted(seen.items())
    return out


def prepare(inputs: EpochInput, params: YumaParams, state: EpochState, dense: bool = False) -> Prepared:
    """Check inputs and apply the integer-only steps.

    `dense` follows the chain's test-only `epoch_dense`: no owner exceptions (its self-weight is
    masked, no threshold exemption, no forced permit) and no commit-reveal mask.
    """
    n = inputs.size
    if n < 0:
        raise ConsensusInputError("n must be >= 0")
    block = int(inputs.block)
    if block < 0:
        raise ConsensusInputError("block must be >= 0")
    stakes = _padded(inputs.stakes, n, "stakes")
    if any(s < 0 for s in stakes):
        raise ConsensusInputError("stakes must be non-negative rao amounts")
    rao_emission = int(inputs.rao_emission)
    if rao_emission < 0:
        raise ConsensusInputError("rao_emission must be >= 0")
    last_update = _padded(inputs.last_update, n, "last_update")
    registered = _padded(inputs.block_at_registration, n, "block_at_registration")
    owner = params.owner_uid if params.owner_uid is not None and 0 <= params.owner_uid < n else None
    if dense:
        owner = None

    cutoff = params.activity_cutoff
    active = [lu + cutoff >= block for lu in last_update]

    stored = list(state.validator_permits)
    permits = [bool(stored[i]) if i < len(stored) else False for i in range(n)]
    if owner is not None:
        permits[owner] = True

    rows = _rows(inputs.weights, n, "weights")
    commit_blocks = inputs.commit_blocks or {}
    for i in range(n):
        row = rows[i]
        if not row:
            continue
        if not permits[i]:
            rows[i] = []
            continue
        lu = last_update[i]
        commit = commit_blocks.get(i) if params.commit_reveal and not dense else None
        rows[i] = [
            (j, w)
            for j, w in row
            if (j != i or i == owner)
            and lu > registered[j]
            and (commit is None or commit >= registered[j])
        ]

    if state.last_step_block == 0:
        bond_cutoff = max(0, block - params.tempo)
    else:
        bond_cutoff = state.last_step_block + 1
    bonds = _rows(state.bonds, n, "bonds")
    return Prepared(
        n=n,
        block=block,
        params=params,
        owner_uid=owner,
        stakes=stakes,
        last_update=last_update,
        block_at_registration=registered,
        active=active,
        permits_in_use=permits,
        weight_rows=rows,
        bond_rows=bonds,
        bond_cutoff_block=bond_cutoff,
        rao_emission=rao_emission,
        dense=dense,
    )
