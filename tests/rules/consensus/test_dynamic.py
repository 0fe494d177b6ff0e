"""Dynamic TAO arithmetic against numbers worked out by hand from the pallet's formulas."""

from __future__ import annotations

from fractions import Fraction

import pytest

from flock_subnet.rules.consensus import root_proportion, split_block_emission
from flock_subnet.rules.consensus.dynamic import (
    AlphaPool,
    burn_after_registration,
    decayed_burn,
    permit_holders,
    root_stake_weights,
    stake_weight,
)
from flock_subnet.rules.consensus.errors import ConsensusInputError

TAO = 10**9


def test_staking_buys_alpha_at_the_pool_price_with_slippage():
    pool = AlphaPool(tao_in=1000 * TAO, alpha_in=1000 * TAO)
    assert pool.price == 1
    # k = 1e24; after 100 TAO in: alpha reserve = ceil(1e24 / 1.1e12) = 909_090_909_091
    alpha, after = pool.buy_alpha(100 * TAO)
    assert alpha == 90_909_090_909  # 90.9 alpha for 100 TAO: slippage against the price of 1
    assert after == AlphaPool(1100 * TAO, 909_090_909_091)
    assert after.price == Fraction(1100 * TAO, 909_090_909_091)


def test_unstaking_sells_back_for_less_than_was_paid():
    pool = AlphaPool(tao_in=2000 * TAO, alpha_in=4000 * TAO)  # price 0.5 TAO per alpha
    assert pool.price == Fraction(1, 2)
    alpha, after = pool.buy_alpha(10 * TAO)
    # alpha reserve = ceil(8e24 / 2.01e12) = 3_980_099_502_488 -> 19_900_497_512 alpha out
    assert alpha == 19_900_497_512
    tao, back = after.sell_alpha(alpha)
    assert tao == 10 * TAO - 1  # the round trip loses the pool's rounding, never gains
    assert back.alpha_in == 4000 * TAO
    with pytest.raises(ConsensusInputError):
        AlphaPool(0, 1)


def test_the_burn_grows_by_1_26_per_registration_and_halves_every_360_blocks():
    one = TAO
    assert burn_after_registration(one, min_burn_rao=TAO // 2, max_burn_rao=100 * TAO) == 1_260_000_000
    assert burn_after_registration(1_260_000_000, TAO // 2, 100 * TAO) == 1_587_600_000
    assert burn_after_registration(90 * TAO, TAO // 2, 100 * TAO) == 100 * TAO  # clamped at max_burn
    assert decayed_burn(1_587_600_000, 360, min_burn_rao=TAO // 2) == 793_800_000
    assert decayed_burn(1_587_600_000, 720, min_burn_rao=TAO // 2) == 500_000_000  # 396.9M, clamped at min_burn
    assert decayed_burn(TAO, 0, min_burn_rao=0) == TAO


def test_permits_rank_by_alpha_plus_tao_weighted_root_stake():
    # uid 0: 1000 alpha; uid 1: 200 alpha + 5000 root TAO at tao_weight 0.18 -> 1100; uid 2: 900 alpha
    weights = [stake_weight(1000 * TAO, 0, 0.18), stake_weight(200 * TAO, 5000 * TAO, 0.18), stake_weight(900 * TAO, 0, 0.18)]
    assert weights[1] == pytest.approx(1100 * TAO)
    assert permit_holders(weights, 2) == [True, True, False]
    assert permit_holders([stake_weight(1000 * TAO, 5000 * TAO, 0.0), 1000.0 * TAO], 1) == [True, False]  # tie: lower uid
    assert root_stake_weights({"a": 5}, {"b": 10}, 0.5) == {"a": 5.0, "b": 5.0}


def test_a_block_split_with_a_root_proportion_of_one_half():
    # tao_weight 0.5, 2000 root TAO, 1000 alpha issued -> 1000 / (1000 + 1000) = 0.5
    share = root_proportion(0.5, 2000 * TAO, 1000 * TAO)
    assert share == pytest.approx(0.5)
    split = split_block_emission(TAO, owner_cut_u16=11_796, root_share=share)
    # owner cut 1e9 * 11796 / 65535 = 179_995_422.3; rest 820_004_577.7; half 410_002_288.9
    assert split.owner_cut == 179_995_422
    assert split.server == 410_002_288
    assert split.root == 205_001_144 and split.validator == 205_001_144  # validators get half of their half
    plain = split_block_emission(TAO, owner_cut_u16=11_796, root_share=0.0)
    assert plain.validator / split.validator == pytest.approx(2.0, rel=1e-8)
