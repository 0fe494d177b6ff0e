"""Dynamic TAO on the local chain when a subnet opts in: staking through the alpha pool and the
moving registration burn, against numbers worked out by hand."""

from __future__ import annotations

from flock_subnet.chain.base import RAO_PER_TAO as TAO
from tests.fixtures.chain import NETUID, register_neuron


def test_staking_buys_alpha_through_the_pool_and_unstaking_sells_it(make_local_chain, make_wallet):
    chain = make_local_chain("pool", pool_tao=1000 * TAO, pool_alpha=2000 * TAO)  # price 0.5 TAO per alpha
    validator = make_wallet("validator")
    register_neuron(chain, validator, fund_rao=chain.hyperparameters(NETUID).extra["burn"] + 100 * TAO)
    hotkey, coldkey = validator.hotkey.ss58_address, validator.coldkeypub.ss58_address
    alpha = chain.add_stake(validator, hotkey, NETUID, 100 * TAO)
    # k = 2e24; alpha reserve after = ceil(2e24 / 1.1e12) = 1_818_181_818_182 -> 181.8 alpha, not 200
    assert alpha == 181_818_181_818
    assert chain.balance(coldkey) == 0
    chain.remove_stake(validator, hotkey, NETUID, alpha)
    assert chain.balance(coldkey) == 100 * TAO - 1  # the round trip keeps the pool's rounding


def test_the_burn_moves_up_with_registrations_and_decays_between_them(make_local_chain, make_wallet):
    chain = make_local_chain("burn", moving_burn=True, burn=TAO, max_burn=10 * TAO)
    paid = []
    for name in ("a", "b"):
        wallet = make_wallet(name)
        chain.fund(wallet.coldkeypub.ss58_address, 5 * TAO)
        chain.register(wallet, NETUID)
        paid.append(5 * TAO - chain.balance(wallet.coldkeypub.ss58_address))
    assert paid == [TAO, 1_260_000_000]  # the second registration pays 1.26x
    chain.advance(360)  # one half-life: 1.5876 TAO -> 0.7938, below the 1 TAO floor
    late = make_wallet("late")
    chain.fund(late.coldkeypub.ss58_address, 5 * TAO)
    chain.register(late, NETUID)
    assert 5 * TAO - chain.balance(late.coldkeypub.ss58_address) == TAO


def test_a_plain_subnet_stakes_one_alpha_per_tao(make_local_chain, make_wallet):
    chain = make_local_chain("plain")
    validator = make_wallet("validator")
    register_neuron(chain, validator, stake_rao=7 * TAO)
    assert chain.metagraph(NETUID).by_hotkey(validator.hotkey.ss58_address).stake == 7 * TAO
