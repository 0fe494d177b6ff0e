"""Pure rules of the local chain: hyperparameter defaults, weight processing, payouts arithmetic.

Nothing here touches storage; `ops.py` applies these rules inside `chain.py`'s transactions. Numbers
follow subtensor: weights are clipped to `max_weight_limit`, scaled so the row maximum is u16::MAX
and stored as u16; amounts are integer rao.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flock_subnet.chain.base import U16_MAX, ChainErrorCode
from flock_subnet.rules.consensus import max_upscale_u16

DEFAULT_DELEGATE_TAKE_U16 = 11_796  # 18 %, subtensor's InitialDefaultDelegateTake
MAX_DELEGATE_TAKE_U16 = 11_796
COMMITMENT_MAX_BYTES = 128  # one Raw field
COMMITMENT_MIN_CHARGE = 100  # each commitment uses at least 100 bytes of the per-tempo quota
MIN_NON_IMMUNE_UIDS = 10  # with this many non-immune uids or fewer, pruning may take an immune one

# What a new subnet starts with on the local chain (subtensor's defaults for a new subnet, except
# commit-reveal, which needs drand and is therefore off on an offline chain).
DEFAULT_HYPERPARAMETERS: dict[str, int | bool] = {
    "tempo": 360,
    "weights_rate_limit": 100,
    "commit_reveal_enabled": False,
    "commit_reveal_period": 1,
    "weights_version": 0,
    "max_weight_limit": U16_MAX,
    "min_allowed_weights": 1,
    "immunity_period": 5000,
    "max_allowed_uids": 256,
    "max_allowed_validators": 64,
    "commitment_rate_limit": 0,
    "commitment_max_space": 3100,
    "kappa": 32_767,
    "bonds_moving_average": 900_000,
    "bonds_penalty": U16_MAX,
    "yuma3_enabled": True,
    "liquid_alpha_enabled": False,
    "alpha_low": 45_875,
    "alpha_high": 58_982,
    "alpha_sigmoid_steepness": 1000,
    "activity_cutoff_factor_milli": 13_889,
    "stake_threshold": 0,
    "burn": 1_000_000_000,
    "subnet_owner_cut": 11_796,
    "alpha_emission_per_block": 1_000_000_000,
    "tao_weight_milli": 0,  # mainnet's TaoWeight is about 180 (0.18)
    "root_tao": 0,  # rao of root stake assumed to weigh on this subnet (root proportion)
    "pool_tao": 0,  # alpha pool reserves (rao); 0: no pool, 1 TAO stakes 1 alpha
    "pool_alpha": 0,
    "moving_burn": False,  # registration burn x1.26 per registration, half-life 360 blocks
    "max_burn": 100_000_000_000,
}

# Other spellings people use (subtensor's storage names, btcli's names).
HYPERPARAMETER_ALIASES = {
    "commit_reveal_weights_enabled": "commit_reveal_enabled",
    "reveal_period": "commit_reveal_period",
    "reveal_period_epochs": "commit_reveal_period",
    "weights_version_key": "weights_version",
    "max_weights_limit": "max_weight_limit",
    "bonds_moving_avg": "bonds_moving_average",
    "yuma3": "yuma3_enabled",
    "yuma_version3": "yuma3_enabled",
    "liquid_alpha": "liquid_alpha_enabled",
    "min_burn": "burn",
    "owner_cut": "subnet_owner_cut",
    "emission_per_block": "alpha_emission_per_block",
}

_RANGES: dict[str, tuple[int, int]] = {
    "tempo": (0, 50_400),
    "weights_rate_limit": (0, 2**63 - 1),
    "commit_reveal_period": (1, 100),
    "weights_version": (0, 2**64 - 1),
    "max_weight_limit": (1, U16_MAX),
    "min_allowed_weights": (0, U16_MAX),
    "immunity_period": (0, U16_MAX),
    "max_allowed_uids": (1, 4096),
    "max_allowed_validators": (1, 4096),
    "commitment_rate_limit": (0, 2**63 - 1),
    "commitment_max_space": (COMMITMENT_MIN_CHARGE, 2**32 - 1),
    "kappa": (0, U16_MAX),
    "bonds_moving_average": (0, 1_000_000),
    "bonds_penalty": (0, U16_MAX),
    "alpha_low": (1638, U16_MAX),
    "alpha_high": (1638, U16_MAX),
    "alpha_sigmoid_steepness": (-32_768, 32_767),
    "activity_cutoff_factor_milli": (1000, 50_000),
    "stake_threshold": (0, 2**63 - 1),
    "burn": (0, 2**63 - 1),
    "subnet_owner_cut": (0, U16_MAX),
    "alpha_emission_per_block": (0, 2**63 - 1),
    "tao_weight_milli": (0, 1000),
    "root_tao": (0, 2**63 - 1),
    "pool_tao": (0, 2**63 - 1),
    "pool_alpha": (0, 2**63 - 1),
    "max_burn": (0, 2**63 - 1),
}


class RuleViolation(Exception):
    """A call broke a chain rule; carries the chain's error code."""

    def __init__(self, code: ChainErrorCode, message: str, retry_after_blocks: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_blocks = retry_after_blocks


def canonical_hyperparameter(name: str) -> str:
    """The local chain's name for a hyperparameter, or `RuleViolation` listing the known ones."""
    key = name.strip().lower().replace("-", "_")
    key = HYPERPARAMETER_ALIASES.get(key, key)
    if key not in DEFAULT_HYPERPARAMETERS:
        known = ", ".join(sorted(DEFAULT_HYPERPARAMETERS))
        raise RuleViolation(ChainErrorCode.OTHER, f"unknown hyperparameter {name!r}; known: {known}")
    return key


def coerce_hyperparameter(name: str, value: Any) -> int | bool:
    """Validate and convert `value` (int, bool, or their text forms) for hyperparameter `name`."""
    key = canonical_hyperparameter(name)
    if isinstance(DEFAULT_HYPERPARAMETERS[key], bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise RuleViolation(ChainErrorCode.OTHER, f"{key} takes true or false, got {value!r}")
    if isinstance(value, bool):
        raise RuleViolation(ChainErrorCode.OTHER, f"{key} takes an integer, got {value!r}")
    try:
        number = int(str(value).replace("_", "")) if not isinstance(value, int) else value
    except ValueError:
        raise RuleViolation(ChainErrorCode.OTHER, f"{key} takes an integer, got {value!r}") from None
    low, high = _RANGES[key]
    if not low <= number <= high:
        raise RuleViolation(ChainErrorCode.OTHER, f"{key} must be between {low} and {high}, got {number}")
    return number


def activity_cutoff_blocks(params: dict[str, Any]) -> int:
    """Blocks without a weight update after which a validator counts as inactive."""
    return max(1, int(params["activity_cutoff_factor_milli"]) * int(params["tempo"]) // 1000)


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


@dataclass(frozen=True)
class ProcessedWeights:
    """A weight row as it is stored: target uids and u16 values (row maximum 65535)."""

    uids: tuple[int, ...]
    values: tuple[int, ...]


def check_weight_input(uids: Sequence[int], weights: Sequence[float]) -> tuple[list[int], list[float]]:
    """Refuse malformed weight vectors before anything touches the chain."""
    if len(uids) != len(weights):
        raise RuleViolation(
            ChainErrorCode.WEIGHT_VEC_NOT_EQUAL_SIZE, f"{len(uids)} uids but {len(weights)} weights; give one weight per uid"
        )
    if not uids:
        raise RuleViolation(ChainErrorCode.INVALID_WEIGHTS, "no weights given; give at least one uid with a positive weight")
    clean_uids: list[int] = []
    for uid in uids:
        if isinstance(uid, bool) or not isinstance(uid, (int,)) and not hasattr(uid, "__index__"):
            raise RuleViolation(ChainErrorCode.INVALID_UIDS, f"uid {uid!r} is not an integer")
        value = int(uid)
        if value < 0:
            raise RuleViolation(ChainErrorCode.INVALID_UIDS, f"uid {value} is negative")
        clean_uids.append(value)
    if len(set(clean_uids)) != len(clean_uids):
        dupes = sorted({u for u in clean_uids if clean_uids.count(u) > 1})
        raise RuleViolation(ChainErrorCode.DUPLICATE_UIDS, f"uids {dupes} appear more than once; give each uid once")
    clean_weights: list[float] = []
    for uid, weight in zip(clean_uids, weights):
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise RuleViolation(ChainErrorCode.INVALID_WEIGHTS, f"weight for uid {uid} is not a number: {weight!r}") from None
        if math.isnan(value) or math.isinf(value):
            raise RuleViolation(ChainErrorCode.INVALID_WEIGHTS, f"weight for uid {uid} is {value}; weights must be finite")
        if value < 0:
            raise RuleViolation(ChainErrorCode.INVALID_WEIGHTS, f"weight for uid {uid} is negative ({value})")
        clean_weights.append(value)
    if not any(w > 0 for w in clean_weights):
        raise RuleViolation(ChainErrorCode.INVALID_WEIGHTS, "all weights are zero; give at least one positive weight")
    return clean_uids, clean_weights


def process_weights(uids: Sequence[int], weights: Sequence[float], max_weight_limit: int) -> ProcessedWeights:
    """Proportions -> stored u16 row: normalise, clip to `max_weight_limit`, max-upscale, drop zeros.

    The same steps the SDK (normalise by the maximum, x65535, round) and the chain
    (`vec_u16_max_upscale_to_u16`) apply, in that order.
    """
    clean_uids, clean_weights = check_weight_input(uids, weights)
    total = sum(clean_weights)
    shares = [w / total for w in clean_weights]
    limit = max_weight_limit / U16_MAX
    if limit < 1.0 and len(shares) > 1:
        shares = _clip_to_max_weight(shares, limit)
    top = max(shares)
    submitted = [_round_half_away(s / top * U16_MAX) for s in shares]
    stored = max_upscale_u16(submitted)
    pairs = sorted((u, v) for u, v in zip(clean_uids, stored) if v > 0)
    return ProcessedWeights(uids=tuple(u for u, _ in pairs), values=tuple(v for _, v in pairs))


def _clip_to_max_weight(shares: list[float], limit: float) -> list[float]:
    """Cap every share at `limit` and hand the excess to the others pro rata (repeat until stable)."""
    n = len(shares)
    if limit * n < 1.0:
        return [1.0 / n] * n
    result = list(shares)
    for _ in range(n):
        over = [i for i, s in enumerate(result) if s > limit + 1e-12]
        if not over:
            break
        excess = sum(result[i] - limit for i in over)
        for i in over:
            result[i] = limit
        free = [i for i, s in enumerate(result) if s < limit - 1e-12]
        base = sum(result[i] for i in free)
        for i in free:
            result[i] += excess * (result[i] / base if base > 0 else 1 / len(free))
    return result


def split_proportionally(total: int, weights: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Split integer `total` by integer `weights` exactly (largest remainder, ties by listed order)."""
    denominator = sum(w for _, w in weights)
    if total <= 0 or denominator <= 0:
        return [(key, 0) for key, _ in weights]
    shares = [(key, total * w // denominator, total * w % denominator) for key, w in weights]
    left = total - sum(s for _, s, _ in shares)
    order = sorted(range(len(shares)), key=lambda i: -shares[i][2])
    bonus = set(order[:left])
    return [(key, amount + (1 if i in bonus else 0)) for i, (key, amount, _) in enumerate(shares)]


def commitment_charge(data: bytes) -> int:
    """Bytes of the per-tempo quota one commitment uses."""
    return max(COMMITMENT_MIN_CHARGE, len(data))
