"""Payouts under dynamic TAO on the local chain, against numbers computed by hand from the pallet's
formulas: a non-zero root proportion, stake bought through a pool at a price, root dividends
credited as claimable TAO, and validator permits ranked by alpha + tao_weight * root stake."""

from __future__ import annotations

import pytest

from flock_subnet.chain.base import RAO_PER_TAO as TAO
from flock_subnet.chain.base import ChainError
from tests.fixtures.chain import NETUID, register_neuron


def test_root_dividends_are_claimable_tao_as_computed_by_hand(make_local_chain, make_wallet, chain_owner):
    # pool 1000 TAO / 2000 alpha (0.5 TAO per alpha), tao_weight 0.5, 1 alpha emitted per block, tempo 10
    chain = make_local_chain("rooted", pool_tao=1000 * TAO, pool_alpha=2000 * TAO, tao_weight_milli=500)
    owner_hot, owner_cold = chain_owner.hotkey.ss58_address, chain_owner.coldkeypub.ss58_address
    miner, staker = make_wallet("miner"), make_wallet("root-staker")
    miner_uid = register_neuron(chain, miner)
    # the owner validates: it may set weights without a permit, so the first epoch already has them
    chain.fund(owner_cold, 100 * TAO)
    # k = 1000e9 * 2000e9 = 2e24; alpha reserve after 100 TAO in = ceil(2e24 / 1100e9) = 1_818_181_818_182
    assert chain.add_stake(chain_owner, owner_hot, NETUID, 100 * TAO) == 181_818_181_818  # 2000e9 - reserve
    chain.fund(staker.coldkeypub.ss58_address, 1000 * TAO)
    assert chain.add_root_stake(staker, owner_hot, 1000 * TAO) == 1000 * TAO
    assert chain.balance(staker.coldkeypub.ss58_address) == 0
    # alpha issuance = staked 181_818_181_818 + pool reserve 1_818_181_818_182 = 2000e9;
    # root proportion = 0.5 * 1000e9 / (0.5 * 1000e9 + 2000e9) = 0.2
    terms = chain.root_terms(NETUID)
    assert terms.alpha_issuance == 2000 * TAO and terms.proportion == pytest.approx(0.2)
    chain.advance(1)  # weights set in the miner's registration block would be masked as outdated
    assert chain.set_weights(chain_owner, NETUID, [miner_uid], [1.0], version_key=0).ok
    chain.advance_to(chain.next_epoch_block(NETUID))

    epoch = chain.epoch_history(NETUID)[0]
    assert epoch.blocks == 10
    # per block: owner cut = floor(1e9 * floor(11796 * 2^32 / 65535) / 2^32) = floor(1e9 * 0.1799954222...)
    #   = 179_995_422; half of the rest = 410_002_288.874...; root = 0.2 * half = 82_000_457.77...;
    #   validators = half - root = 328_001_831.09...; each floored per block, times 10 blocks
    assert epoch.owner_cut == 1_799_954_220
    assert epoch.server_pending == 4_100_022_880
    assert epoch.validator_pending == 3_280_018_310
    assert epoch.recycled == 10 * 10**9 - (1_799_954_220 + 4_100_022_880 + 3_280_018_310 + 820_004_570)  # 20: dust only
    assert (epoch.root_proportion, epoch.tao_weight) == (pytest.approx(0.2), 0.5)
    assert epoch.alpha_price == pytest.approx(1100 / 1818.181818182)  # TAO per alpha after the stake went in
    # the miner is the only one weighted: all incentive; the owner is the only validator: all dividends
    assert epoch.earned(miner.coldkeypub.ss58_address, kind="incentive") == 4_100_022_880
    # alpha dividends 3_280_018_310: take = 3_280_018_310 * 11796 // 65535 = 590_388_280, the rest to
    # the pool, where the owner's coldkey is the only staker
    assert epoch.earned(owner_cold, owner_hot, "dividend") == 3_280_018_310 - 590_388_280
    # root dividends 820_004_570: take 820_004_570 * 11796 // 65535 = 147_597_068 as the owner's alpha,
    # 672_407_502 to the root staker, claimable (not staked on the subnet)
    assert epoch.earned(owner_cold, owner_hot, "validator_take") == 590_388_280 + 147_597_068
    assert epoch.earned(staker.coldkeypub.ss58_address, owner_hot, "root_dividend") == 672_407_502
    assert chain.stake_of(staker.coldkeypub.ss58_address, owner_hot, NETUID) == 0
    assert chain.root_claimable(staker.coldkeypub.ss58_address, NETUID) == {owner_hot: 672_407_502}

    # claim: 672_407_502 alpha sold to the pool (1100e9 TAO, 1_818_181_818_182 alpha):
    # 1100e9 - ceil(1100e9 * 1_818_181_818_182 / (1_818_181_818_182 + 672_407_502)) = 406_656_147 rao,
    # staked on root for the staker
    assert chain.claim_root(staker, NETUID) == 406_656_147
    assert chain.root_stake_of(staker.coldkeypub.ss58_address, owner_hot) == 1000 * TAO + 406_656_147
    assert chain.root_claimable(staker.coldkeypub.ss58_address, NETUID) == {}
    assert chain.claim_root(staker, NETUID) == 0  # nothing twice


def test_without_root_stake_on_the_chain_the_root_share_is_recycled(make_local_chain, make_wallet, chain_owner):
    chain = make_local_chain("assumed", tao_weight_milli=500, root_tao=1000 * TAO)  # root assumed elsewhere
    miner_uid = register_neuron(chain, make_wallet("miner"))
    chain.fund(chain_owner.coldkeypub.ss58_address, 2000 * TAO)
    chain.add_stake(chain_owner, chain_owner.hotkey.ss58_address, NETUID, 2000 * TAO)
    chain.advance(1)
    assert chain.set_weights(chain_owner, NETUID, [miner_uid], [1.0], version_key=0).ok
    chain.advance_to(chain.next_epoch_block(NETUID))
    epoch = chain.epoch_history(NETUID)[0]
    assert epoch.root_proportion == pytest.approx(0.2)  # 500 / (500 + 2000)
    assert epoch.total("root_dividend") == 0
    assert epoch.total("incentive") == 4_100_022_880  # the miners' half is whole: 10 * 410_002_288
    assert epoch.recycled == 20 + 820_004_570  # the dust plus the whole root share of 10 blocks


def test_permits_rank_by_alpha_plus_tao_weight_times_root_stake(make_local_chain, make_wallet):
    chain = make_local_chain("permits", tao_weight_milli=500, max_allowed_validators=1)  # and the owner's
    alpha_rich, root_backed, backer = make_wallet("alpha-rich"), make_wallet("root-backed"), make_wallet("backer")
    rich_uid = register_neuron(chain, alpha_rich, stake_rao=100 * TAO)
    backed_uid = register_neuron(chain, root_backed, stake_rao=60 * TAO)
    chain.fund(backer.coldkeypub.ss58_address, 100 * TAO)
    chain.add_root_stake(backer, root_backed.hotkey.ss58_address, 100 * TAO)  # 60 + 0.5 * 100 = 110 > 100
    chain.advance_to(chain.next_epoch_block(NETUID))
    graph = chain.metagraph(NETUID)
    assert graph.neuron(backed_uid).validator_permit and not graph.neuron(rich_uid).validator_permit
    chain.remove_root_stake(backer, root_backed.hotkey.ss58_address, 100 * TAO)  # back to 60 < 100
    assert chain.balance(backer.coldkeypub.ss58_address) == 100 * TAO
    chain.advance_to(chain.next_epoch_block(NETUID))
    graph = chain.metagraph(NETUID)
    assert graph.neuron(rich_uid).validator_permit and not graph.neuron(backed_uid).validator_permit


def test_root_stake_needs_a_known_hotkey_and_the_funds(local_chain, make_wallet):
    staker, stranger = make_wallet("staker"), make_wallet("stranger")
    with pytest.raises(ChainError, match="not known"):
        local_chain.add_root_stake(staker, stranger.hotkey.ss58_address, TAO)
    register_neuron(local_chain, stranger)
    with pytest.raises(ChainError, match="fund it first"):
        local_chain.add_root_stake(staker, stranger.hotkey.ss58_address, TAO)
    with pytest.raises(ChainError, match="cannot remove"):
        local_chain.remove_root_stake(staker, stranger.hotkey.ss58_address, TAO)
