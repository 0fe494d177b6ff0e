"""Dynamic TAO arithmetic the payouts depend on: the subnet's alpha pool, the moving registration
burn, the stake weight that ranks validator permits, and the root share of a block's emission.

- Pool: TAO and alpha reserves with a constant product (full-range liquidity). The price is
  `tao_in / alpha_in`; staking TAO buys alpha out of the pool and unstaking sells it back, each
  with the slippage the product implies. Integer rao, rounded in the pool's favour.
- Burn: each registration multiplies the burn by 1.26; between registrations it decays with a
  half-life of 360 blocks; it is always clamped to [`min_burn`, `max_burn`].
- Stake weight: `alpha + tao_weight * root_stake`; permits go to the top `k` by it.
- Root share: `tao_weight * root_tao / (tao_weight * root_tao + alpha_issuance)` of the
  validators' half of each block goes to root stakers (`emission.root_proportion`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from flock_subnet.rules.consensus.errors import ConsensusInputError

BURN_GROWTH = Fraction(126, 100)
BURN_HALF_LIFE_BLOCKS = 360


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass(frozen=True)
class AlphaPool:
    """A subnet's pool: `tao_in` and `alpha_in` reserves, in rao."""

    tao_in: int
    alpha_in: int

    def __post_init__(self) -> None:
        if self.tao_in <= 0 or self.alpha_in <= 0:
            raise ConsensusInputError("a pool needs positive TAO and alpha reserves")

    @property
    def price(self) -> Fraction:
        """TAO per alpha."""
        return Fraction(self.tao_in, self.alpha_in)

    def buy_alpha(self, tao_rao: int) -> tuple[int, "AlphaPool"]:
        """Stake `tao_rao` TAO: the alpha it buys and the pool afterwards."""
        if tao_rao < 0:
            raise ConsensusInputError("cannot stake a negative amount")
        k = self.tao_in * self.alpha_in
        tao_after = self.tao_in + int(tao_rao)
        alpha_after = _ceil_div(k, tao_after)
        return self.alpha_in - alpha_after, AlphaPool(tao_after, alpha_after)

    def sell_alpha(self, alpha_rao: int) -> tuple[int, "AlphaPool"]:
        """Unstake `alpha_rao` alpha: the TAO it returns and the pool afterwards."""
        if alpha_rao < 0:
            raise ConsensusInputError("cannot unstake a negative amount")
        k = self.tao_in * self.alpha_in
        alpha_after = self.alpha_in + int(alpha_rao)
        tao_after = _ceil_div(k, alpha_after)
        return self.tao_in - tao_after, AlphaPool(tao_after, alpha_after)


def decayed_burn(burn_rao: int, blocks: int, min_burn_rao: int, half_life: int = BURN_HALF_LIFE_BLOCKS) -> int:
    """The burn `blocks` blocks after it was last set, never below `min_burn_rao`."""
    if blocks < 0 or half_life <= 0:
        raise ConsensusInputError("blocks must be non-negative and the half-life positive")
    decayed = int(burn_rao * 0.5 ** (blocks / half_life))
    return max(int(min_burn_rao), decayed)


def burn_after_registration(burn_rao: int, min_burn_rao: int, max_burn_rao: int) -> int:
    """The burn once a registration paid `burn_rao`: ×1.26, clamped."""
    grown = int(Fraction(int(burn_rao)) * BURN_GROWTH)
    return min(int(max_burn_rao), max(int(min_burn_rao), grown))


def stake_weight(alpha_rao: int, root_tao_rao: int, tao_weight: float) -> float:
    """What a hotkey's stake counts for on a subnet: its alpha plus `tao_weight` times its root TAO."""
    if tao_weight < 0:
        raise ConsensusInputError("tao_weight cannot be negative")
    return float(alpha_rao) + float(tao_weight) * float(root_tao_rao)


def stake_weight_rao(alpha_rao: int, root_tao_rao: int, tao_weight: Fraction | float) -> int:
    """`stake_weight` in whole rao, exactly: alpha + floor(tao_weight * root TAO)."""
    weight = Fraction(tao_weight)
    if weight < 0:
        raise ConsensusInputError("tao_weight cannot be negative")
    return int(alpha_rao) + int(weight * int(root_tao_rao))


def permit_holders(weights: Sequence[float], k: int) -> list[bool]:
    """The top `k` uids by stake weight (ties to the lower uid) hold a validator permit."""
    ranked = sorted(range(len(weights)), key=lambda uid: (-weights[uid], uid))
    chosen = set(ranked[: max(0, k)])
    return [uid in chosen for uid in range(len(weights))]


def root_stake_weights(alpha: Mapping[str, int], root: Mapping[str, int], tao_weight: float) -> dict[str, float]:
    """Stake weight per hotkey from its alpha and root stakes."""
    return {h: stake_weight(alpha.get(h, 0), root.get(h, 0), tao_weight) for h in sorted(set(alpha) | set(root))}
