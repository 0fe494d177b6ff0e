"""The local chain's block split with a root proportion, against numbers worked out by hand."""

from __future__ import annotations

from flock_subnet.chain.base import RAO_PER_TAO
from tests.fixtures.chain import NETUID, register_validator


def test_the_root_share_comes_out_of_the_validators_half_and_is_recycled(make_local_chain, make_wallet):
    plain = make_local_chain("plain")
    rooted = make_local_chain("rooted", tao_weight_milli=500, root_tao=100 * RAO_PER_TAO)
    for chain in (plain, rooted):
        register_validator(chain, make_wallet("validator"), stake_rao=100 * RAO_PER_TAO)  # runs the first epoch
    base, first = plain.epoch_history(NETUID)[0], rooted.epoch_history(NETUID)[0]
    assert base.blocks == first.blocks == 10
    # per block: owner cut 179_995_422.3, half 410_002_288.9; root proportion
    # 0.5 * 100 / (0.5 * 100 + 100 alpha staked) = 1/3 -> validators keep 2/3 of their half
    assert base.validator_pending == 10 * 410_002_288
    assert first.validator_pending == 10 * 273_334_859  # floor(410_002_288.85 * 2 / 3)
    assert first.server_pending == base.server_pending == 10 * 410_002_288
    assert first.owner_cut == base.owner_cut
    assert first.recycled - base.recycled == base.validator_pending - first.validator_pending  # the root share
    assert rooted.hyperparameters(NETUID).extra["tao_weight_milli"] == 500
