"""The demo's payouts table says which dynamic-TAO terms it was paid under, read from the chain's epochs."""

from __future__ import annotations

from rich.console import Console

from flock_subnet.chain.base import RAO_PER_TAO as TAO
from flock_subnet.kit.demo.report import assumptions, render
from tests.fixtures.chain import NETUID, register_neuron

_TOTALS = dict.fromkeys(
    ("minted_rao", "emitted_rao", "owner_cut_rao", "miners_rao", "validators_rao", "delegators_rao", "recycled_rao",
     "credited_rao"), 0
)


def _printed(terms: dict) -> str:
    console = Console(record=True, width=200)
    render({"epochs": 1, "block": 10, "neurons": [], "delegators": [], "totals": _TOTALS, "assumptions": terms}, console)
    return " ".join(console.export_text().split())


def _one_epoch(chain, owner, miner) -> list:
    miner_uid = register_neuron(chain, miner)
    chain.advance(1)
    assert chain.set_weights(owner, NETUID, [miner_uid], [1.0], version_key=0).ok
    chain.advance_to(chain.next_epoch_block(NETUID))
    return chain.epoch_history(NETUID)


def test_a_plain_subnet_says_it_has_no_root_share_and_how_mainnet_differs(local_chain, chain_owner, make_wallet):
    terms = assumptions(_one_epoch(local_chain, chain_owner, make_wallet("miner")))
    assert terms["root_proportion"] == {"min": 0.0, "max": 0.0} and terms["tao_weight"] == 0.0
    assert terms["alpha_price_tao"] == {"min": 1.0, "max": 1.0} and terms["pool"].startswith("none")
    text = _printed(terms)
    assert "root proportion 0.000 (tao_weight 0.000), alpha price 1.0000 TAO" in text
    assert "about 0.3-0.6" in text and "1.4-2.5x lower" in text


def test_a_rooted_subnet_with_a_pool_states_its_terms(make_local_chain, chain_owner, make_wallet):
    chain = make_local_chain("rooted", pool_tao=1000 * TAO, pool_alpha=2000 * TAO, tao_weight_milli=500)
    owner_hot = chain_owner.hotkey.ss58_address
    chain.fund(chain_owner.coldkeypub.ss58_address, 100 * TAO)
    chain.add_stake(chain_owner, owner_hot, NETUID, 100 * TAO)
    staker = make_wallet("root-staker")
    chain.fund(staker.coldkeypub.ss58_address, 1000 * TAO)
    chain.add_root_stake(staker, owner_hot, 1000 * TAO)
    terms = assumptions(_one_epoch(chain, chain_owner, make_wallet("miner")))
    assert terms["root_share"].startswith("paid to root stakers") and terms["root_dividends_rao"] > 0
    text = _printed(terms)
    assert "root proportion 0.200 (tao_weight 0.500), alpha price 0.6050 TAO (constant-product alpha pool)" in text
    assert "claim as TAO" in text
