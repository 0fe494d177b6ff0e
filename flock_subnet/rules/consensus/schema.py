"""Plain data of the epoch: hyperparameters, per-epoch inputs, carried state and results.

Everything here is a dataclass over ints, bools, floats, lists and dicts, so a caller (the
local chain, the `yuma` CLI, tests) can build inputs from whatever it stores and read results
without knowing how the epoch computes them.

Conventions:
- uids are 0..n-1; vectors are lists of length n.
- Weights and bonds are sparse rows: `{row_uid: [(col_uid, u16), ...]}`. Weights hold the values
  as stored on chain (after `set_weights`' row-max upscale); explicit zero entries are kept.
- Stakes are integers in rao (the epoch's S' = alpha + tao_weight * root TAO, already combined).
- Emission amounts are integers in rao.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

U16_MAX = 65_535

SparseRows = dict[int, list[tuple[int, int]]]
FloatRows = list[list[tuple[int, float]]]


@dataclass(frozen=True)
class YumaParams:
    """Subnet hyperparameters the epoch reads (storage names and chain defaults of a new subnet).

    `activity_cutoff_blocks`, when set, overrides `max(1, factor * tempo // 1000)`.
    `owner_uid` is the uid of the subnet owner's hotkey (stake-threshold exemption, forced
    permit, kept self-weight), or None for no owner exception.
    `commit_reveal` turns on the commit-reveal column mask (it needs `EpochInput.commit_blocks`).
    """

    tempo: int = 360
    kappa_u16: int = 32_767
    bonds_penalty_u16: int = 65_535
    bonds_moving_average: int = 900_000
    yuma3: bool = True
    liquid_alpha: bool = False
    alpha_low_u16: int = 45_875
    alpha_high_u16: int = 58_982
    alpha_sigmoid_steepness: int = 1_000
    max_allowed_validators: int = 64
    stake_threshold: int = 0
    activity_cutoff_factor_milli: int = 13_889
    activity_cutoff_blocks: int | None = None
    owner_uid: int | None = None
    commit_reveal: bool = False

    @property
    def activity_cutoff(self) -> int:
        """Blocks after its last weight update that a uid still counts as active."""
        if self.activity_cutoff_blocks is not None:
            return max(1, int(self.activity_cutoff_blocks))
        return max(1, self.activity_cutoff_factor_milli * self.tempo // 1000)

    def with_changes(self, **changes: Any) -> "YumaParams":
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "YumaParams":
        """Build from a dict using these field names (unknown keys are ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        if "kappa" in data and "kappa_u16" not in data:
            values["kappa_u16"] = int(data["kappa"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class EpochState:
    """What the chain stores between epochs for the epoch's own use.

    bonds: stored u16 bond rows (validator uid -> [(miner uid, u16)]).
    validator_permits: the permits the next epoch uses (a shorter list means the missing uids
        have no permit).
    last_step_block: `LastMechansimStepBlock` (0 = never; the bond mask then uses block - tempo).
    """

    bonds: SparseRows = field(default_factory=dict)
    validator_permits: list[bool] = field(default_factory=list)
    last_step_block: int = 0

    def copy(self) -> "EpochState":
        return EpochState(
            bonds={k: list(v) for k, v in self.bonds.items()},
            validator_permits=list(self.validator_permits),
            last_step_block=self.last_step_block,
        )


@dataclass
class EpochInput:
    """One epoch's view of the subnet.

    block: the block the epoch runs at (`current_block`).
    stakes: rao per uid; its length is n unless `n` is given (then it is padded with 0).
    weights: stored u16 weight rows per validator uid.
    last_update / block_at_registration: per uid (padded with 0 to n).
    rao_emission: the alpha (rao) this epoch distributes (server + validator + root pending).
    commit_blocks: for commit-reveal, per validator uid the earliest unexpired commit block.
    """

    block: int
    stakes: Sequence[int]
    weights: Mapping[int, Sequence[tuple[int, int]]] = field(default_factory=dict)
    last_update: Sequence[int] = ()
    block_at_registration: Sequence[int] = ()
    rao_emission: int = 0
    commit_blocks: Mapping[int, int] | None = None
    n: int | None = None

    @property
    def size(self) -> int:
        return int(self.n) if self.n is not None else len(self.stakes)


@dataclass
class EpochResult:
    """Everything one epoch computed, per uid (lists of length n).

    Float vectors are the I32F32 values before u16 conversion (exact mode: raw / 2**32).
    `bonds_u16` are the stored rows after this epoch; `state` is what to keep for the next one.
    `weights_mask_norm` and `bonds_delta_norm` are sparse rows (explicit zeros kept).
    """

    n: int
    block: int
    mode: str
    active: list[bool]
    normalised_stake: list[float]
    active_stake: list[float]
    consensus: list[float]
    incentive: list[float]
    dividends: list[float]
    validator_trust: list[float]
    consensus_u16: list[int]
    incentive_u16: list[int]
    dividends_u16: list[int]
    validator_trust_u16: list[int]
    stake_weight_u16: list[int]
    normalized_server_emission: list[float]
    normalized_validator_emission: list[float]
    normalized_combined_emission: list[float]
    server_emission_rao: list[int]
    validator_emission_rao: list[int]
    emission_rao: list[int]
    new_validator_permits: list[bool]
    bonds_u16: SparseRows
    weights_mask_norm: FloatRows
    bonds_delta_norm: FloatRows
    emergency: bool
    state: EpochState

    @property
    def dividends_prop(self) -> list[float]:
        """Stored dividends read back as proportions (u16 / 65535, the chain's fixed-point way)."""
        return [u16_proportion(d) for d in self.dividends_u16]

    @property
    def bonds_prop(self) -> list[list[float]]:
        return [[u16_proportion(v) for v in row] for row in self.dense_bonds_u16()]

    def dense_bonds_u16(self) -> list[list[int]]:
        return dense_rows(self.bonds_u16, self.n, 0)

    def to_dict(self) -> dict[str, Any]:
        """The replay format: dense lists over uids, matrices as lists of dense rows."""
        out: dict[str, Any] = {}
        for key in VECTOR_KEYS:
            out[key] = list(getattr(self, key))
        out["dividends_prop"] = self.dividends_prop
        out["bonds_u16"] = self.dense_bonds_u16()
        out["bonds_prop"] = self.bonds_prop
        out["weights_mask_norm"] = dense_rows(dict(enumerate(self.weights_mask_norm)), self.n, 0.0)
        out["bonds_delta_norm"] = dense_rows(dict(enumerate(self.bonds_delta_norm)), self.n, 0.0)
        return out


VECTOR_KEYS = (
    "consensus_u16",
    "incentive_u16",
    "dividends_u16",
    "validator_trust_u16",
    "stake_weight_u16",
    "emission_rao",
    "server_emission_rao",
    "validator_emission_rao",
    "new_validator_permits",
    "active",
    "consensus",
    "incentive",
    "dividends",
    "validator_trust",
    "active_stake",
    "normalised_stake",
    "normalized_combined_emission",
    "normalized_server_emission",
    "normalized_validator_emission",
)

OUTPUT_KEYS = VECTOR_KEYS + ("bonds_u16", "dividends_prop", "bonds_prop", "weights_mask_norm", "bonds_delta_norm")


def u16_proportion(value: int) -> float:
    """`u16_proportion_to_fixed`: value / 65535 in I32F32, as a float."""
    return ((int(value) << 32) // U16_MAX) / 4294967296.0


def dense_rows(rows: Mapping[int, Sequence[tuple[int, Any]]], n: int, zero: Any) -> list[list[Any]]:
    out = [[zero] * n for _ in range(n)]
    for i, row in rows.items():
        if 0 <= i < n:
            target = out[i]
            for j, v in row:
                if 0 <= j < n:
                    target[j] = v
    return out
