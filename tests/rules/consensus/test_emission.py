"""The emission split and the epoch payouts (Yuma reference section 2), incl. the split vectors."""

from __future__ import annotations

import ast
import operator
import re

import pytest

from flock_subnet.rules.consensus import (
    ConsensusInputError,
    EpochInput,
    EpochState,
    PendingEmission,
    SubnetAccounts,
    YumaParams,
    block_emission_for_issuance,
    distribute_epoch,
    root_proportion,
    run_epoch,
    split_block_emission,
)
from flock_subnet.rules.consensus.emission import U64_MAX
from tests.rules.consensus.vector_files import all_vectors

RAO = 1_000_000_000
SPLIT_VECTORS = [v for v in all_vectors() if v.get("kind") == "emission_split"]

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def formula(value) -> float:
    """A target as the chain test writes it: a number, '1_000_000_000 + 0.9 * 1_000_000_000', 'u64::MAX (100%)'."""
    if isinstance(value, (int, float)):
        return value
    text = re.sub(r"\(.*?\)", "", str(value)).replace("u64::MAX", str(U64_MAX)).replace("_", "").split("=")[0]

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError(f"unsupported formula {value!r}")

    return ev(ast.parse(text.strip(), mode="eval"))


def _split_vector_outputs(vector) -> dict:
    """Run the split a vector describes through the public API; returns the chain quantities."""
    inputs = vector["inputs"]
    out: dict = {}
    if "cases" in inputs:
        cuts = [
            split_block_emission(inputs["alpha_out_block_rao"], owner_cut_u16=c["subnet_owner_cut_u16"]).owner_cut
            for c in inputs["cases"]
        ]
        out["PendingOwnerCut"] = cuts
        return out
    if "alpha_out_block_rao" in inputs:
        share = root_proportion(
            inputs.get("tao_weight", 0.0), inputs.get("root_subnet_tao_rao", 0), inputs.get("alpha_issuance_rao", 0)
        )
        pending = PendingEmission()
        split = split_block_emission(
            inputs["alpha_out_block_rao"],
            owner_cut_u16=inputs.get("subnet_owner_cut_u16", 11796),
            root_share=share,
            root_sell=inputs.get("root_sell_flag", True),
        )
        for _ in range(int(inputs.get("blocks_accumulated", 1))):
            pending.add(split)
        out.update(
            root_proportion=share,
            PendingServerEmission=pending.server,
            PendingValidatorEmission=pending.validator,
            PendingRootAlphaDivs=pending.root,
            PendingOwnerCut=pending.owner_cut,
        )
        return out
    if "child_proportion_u64" in inputs:
        parent_stake = int(inputs["parent_alpha_stake"])
        child_stake = int(inputs.get("child_alpha_stake", 0))
        accounts = SubnetAccounts(
            hotkey_owner={"child": "child-owner"},  # the parent hotkey has no owner entry
            alpha_stake={"parent": {"parent-owner": parent_stake}, "child": {"child-owner": child_stake}},
            children={"parent": [(int(formula(inputs["child_proportion_u64"])), "child")]},
            childkey_take_u16={"child": int(inputs["childkey_take_u16"])},
            ck_burn_u64=int(inputs.get("ck_burn", 0)),
            tao_weight=float(inputs.get("tao_weight", 0)),
        )
        pending = PendingEmission(
            server=int(inputs["pending_server_alpha"]),
            validator=int(inputs["pending_validator_alpha"]),
            root=int(inputs.get("pending_root_alpha", 0)),
            owner_cut=int(inputs.get("owner_cut", 0)),
        )
        # The child is the only registered uid: the epoch gives it every rao as dividends.
        result = run_epoch(
            EpochInput(block=10, stakes=[parent_stake], last_update=[9], rao_emission=pending.epoch_emission),
            YumaParams(tempo=10),
            EpochState(validator_permits=[True]),
        )
        payout = distribute_epoch(pending, {"child": result.server_emission_rao[0]}, {"child": result.validator_emission_rao[0]}, accounts)
        totals = payout.by_hotkey()
        out["parent_stake_after"] = parent_stake + totals.get("parent", 0)
        out["child_stake_after"] = child_stake + totals.get("child", 0)
        return out
    raise AssertionError(f"split vector {vector['id']} has inputs this test does not know")


@pytest.mark.parametrize("vector", SPLIT_VECTORS, ids=lambda v: v["id"])
def test_emission_split_vectors(vector):
    got = _split_vector_outputs(vector)
    assertion = vector.get("assertion", "")
    m = re.search(r"eps(?:ilon)?\s*=\s*([0-9_]+)", assertion)
    tol = float(m.group(1).replace("_", "")) if m else 0.0
    strict = "close(" in assertion
    checked = 0
    for key, want in vector["expected"].items():
        if key.startswith("as_written") or key == "tol":
            continue
        values = want if isinstance(want, list) else [want]
        gots = got[key] if isinstance(got[key], list) else [got[key]]
        for g, w in zip(gots, values, strict=True):
            diff = abs(g - formula(w))
            assert (diff < tol if strict else diff <= tol), (key, g, w)
            checked += 1
    assert checked


def test_default_split_is_18_41_41():
    split = split_block_emission(RAO)
    assert split.owner_cut == 179_995_422  # 11796 / 65535 of a TAO
    assert split.server == split.validator == 410_002_288
    assert split.root == 0 and split.total <= RAO
    assert RAO - split.total <= 2
    no_cut = split_block_emission(RAO, owner_cut_enabled=False)
    assert no_cut.owner_cut == 0 and no_cut.server == 500_000_000
    recycled = split_block_emission(RAO, owner_cut_u16=0, root_share=0.25, root_sell=False)
    assert recycled.root == 0 and recycled.recycled == 125_000_000 and recycled.validator == 375_000_000


def test_split_rejects_bad_inputs():
    with pytest.raises(ConsensusInputError):
        split_block_emission(-1)
    with pytest.raises(ConsensusInputError):
        split_block_emission(RAO, owner_cut_u16=70_000)


def test_block_emission_halves():
    assert block_emission_for_issuance(0) == RAO
    assert block_emission_for_issuance(10_500_000 * RAO - 1) == RAO
    assert block_emission_for_issuance(10_500_000 * RAO) == RAO // 2
    assert block_emission_for_issuance(15_750_000 * RAO) == RAO // 4
    assert block_emission_for_issuance(21_000_000 * RAO) == 0
    assert root_proportion(0.0, RAO, RAO) == 0.0 and root_proportion(1.0, 0, 0) == 0.0


def _network():
    accounts = SubnetAccounts(
        hotkey_owner={"v1": "val1", "v2": "val2", "m1": "miner1", "m2": "miner2", "own": "owner"},
        alpha_stake={
            "v1": {"val1": 600 * RAO, "delegator-a": 300 * RAO, "delegator-b": 100 * RAO},
            "v2": {"val2": 1000 * RAO},
        },
        subnet_owner_coldkey="owner",
        subnet_owner_hotkey="own",
        delegate_take_u16={"v2": 0},
    )
    return accounts


def test_delegators_share_dividends_pro_rata_after_the_take():
    accounts = _network()
    pending = PendingEmission(server=400 * RAO, validator=400 * RAO, owner_cut=100 * RAO)
    incentive = {"m1": 300 * RAO, "m2": 100 * RAO - 5, "own": 5}
    dividends = {"v1": 200 * RAO, "v2": 200 * RAO}
    payout = distribute_epoch(pending, incentive, dividends, accounts)
    assert payout.earned("owner", kind="owner_cut") == 100 * RAO
    assert payout.earned("miner1") == 300 * RAO
    assert payout.burned == 5 and payout.earned("owner", kind="incentive") == 0
    v1 = 200 * RAO
    take = v1 * 11796 // 65535
    assert payout.earned("val1", "v1", "validator_take") == take
    rest = v1 - take
    pool_after_take = 1000 * RAO + take
    assert abs(payout.earned("delegator-a", "v1") - rest * 300 * RAO / pool_after_take) <= 1
    assert abs(payout.earned("delegator-b", "v1") - rest * 100 * RAO / pool_after_take) <= 1
    assert abs(payout.earned("val1", "v1", "dividend") - rest * (600 * RAO + take) / pool_after_take) <= 1
    assert payout.earned("val2", "v2") == 200 * RAO  # no take, sole staker
    assert payout.earned("delegator-a", "v2") == 0
    assert sum(c.amount for c in payout.credits if c.hotkey == "v1") == v1  # exact, no dust lost
    assert payout.total_credited + payout.burned + payout.recycled == 100 * RAO + 400 * RAO + 400 * RAO


def test_no_incentive_gives_validators_the_miners_half():
    accounts = _network()
    pending = PendingEmission(server=400 * RAO, validator=400 * RAO)
    payout = distribute_epoch(pending, {"m1": 0}, {"v1": 1, "v2": 3}, accounts)
    assert payout.validator_alpha == 800 * RAO
    assert payout.by_hotkey() == {"v1": 200 * RAO, "v2": 600 * RAO}


def test_all_owner_hotkeys_are_burned():
    accounts = _network()
    accounts.hotkey_owner["own2"] = "owner"
    payout = distribute_epoch(PendingEmission(server=10, validator=10), {"own2": 6, "m1": 4}, {"v2": 1}, accounts)
    assert payout.burned == 6 and payout.miner_burned_fraction == 0.6
    assert payout.earned("miner1") == 4


def test_children_with_the_same_owner_pay_no_childkey_take():
    accounts = SubnetAccounts(
        hotkey_owner={"parent": "same", "child": "same"},
        alpha_stake={"parent": {"same": 3 * RAO}, "child": {"same": RAO}},
        children={"parent": [(U64_MAX // 2, "child")]},
        childkey_take_u16={"child": 11796},
        default_delegate_take_u16=0,
    )
    payout = distribute_epoch(PendingEmission(validator=1000), {"x": 1}, {"child": 1000}, accounts)
    # child keeps its own 1 TAO share; the parent contributes half of its 3 TAO: 1 : 1.5
    totals = payout.by_hotkey()
    assert totals["parent"] in (599, 600) and totals["child"] in (400, 401)  # floors of a rao


def test_root_dividends_split_by_tao_weight():
    accounts = SubnetAccounts(
        hotkey_owner={"v": "val"},
        alpha_stake={"v": {"val": 100}},
        root_stake={"v": {"root-staker": 100}},
        tao_weight=1.0,
        default_delegate_take_u16=0,
    )
    payout = distribute_epoch(PendingEmission(validator=500, root=300), {"m": 1}, {"v": 10}, accounts)
    assert payout.earned("val", "v", "dividend") == 500
    assert payout.earned("root-staker", "v", "root_dividend") == 300


def test_negative_amounts_are_refused():
    with pytest.raises(ConsensusInputError):
        distribute_epoch(PendingEmission(), {"m": -1}, {}, SubnetAccounts())


def test_epoch_to_payout_end_to_end():
    """A tempo on a small subnet: split per block, epoch, payout; nothing minted twice."""
    params = YumaParams(tempo=360, owner_uid=0)
    hotkeys = ["own", "v1", "v2", "m1", "m2"]
    accounts = _network()
    stakes = [0, 1000 * RAO, 1000 * RAO, 0, 0]
    pending = PendingEmission()
    split = split_block_emission(RAO)
    for _ in range(params.tempo):
        pending.add(split)
    weights = {1: [(3, 65535), (4, 32768)], 2: [(3, 65535), (4, 32768)]}
    result = run_epoch(
        EpochInput(block=1000, stakes=stakes, weights=weights, last_update=[0, 999, 999, 0, 0], rao_emission=pending.epoch_emission),
        params,
        EpochState(validator_permits=[True, True, True, False, False]),
    )
    incentive = {h: result.server_emission_rao[i] for i, h in enumerate(hotkeys)}
    dividends = {h: result.validator_emission_rao[i] for i, h in enumerate(hotkeys)}
    assert incentive["m1"] > incentive["m2"] > 0
    assert sum(incentive.values()) <= pending.server
    payout = distribute_epoch(pending, incentive, dividends, accounts)
    minted = payout.total_credited + payout.burned + payout.recycled
    assert 0 <= pending.epoch_emission + pending.owner_cut - minted <= 1000  # floor dust of a few rao per uid
    assert payout.earned("delegator-a", "v1") > payout.earned("delegator-b", "v1") > 0
