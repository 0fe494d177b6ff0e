"""Fault handling in a real round: miner faults score zero, validator faults hold the miner's score."""

from __future__ import annotations

import pytest

from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import LOCAL, QWEN_05B
from flock_subnet.validator.plan import PlanStatus
from flock_subnet.validator.report import EvalStatus
from flock_subnet.validator.state import ValidatorState
from tests.fixtures.chain import NETUID


@pytest.fixture
def faulty_subnet(make_subnet, local_base_dir):
    subnet = make_subnet()
    subnet.add_validator("val")
    for name in ("outage", "slow", "garbled", "copier", "silent", "elsewhere"):
        subnet.add_miner(name)
    subnet.publish("outage", "alice", local_base_dir, "tiny-outage")
    subnet.publish("slow", "bob", local_base_dir, "tiny-slow")
    subnet.commit("garbled", "alice/tiny:main")  # not the commitment format
    subnet.publish("copier", "mallory", local_base_dir, "tiny-copy", salted_for="slow")  # someone else's hash
    reference = protocol.ModelReference("alice/big", "c" * 40, "d" * 64, QWEN_05B.id)
    subnet.commit("elsewhere", protocol.encode(reference))  # a competition this validator does not score
    subnet.advance_to_next_round()
    return subnet


def test_round_with_every_kind_of_fault(faulty_subnet, tmp_path):
    subnet = faulty_subnet
    uid = subnet.uids
    workdir = tmp_path / "val"
    with ValidatorState(workdir / "state.db") as seeded:  # the scores earlier rounds left behind
        hotkeys = {uid[n]: subnet.wallets[n].hotkey.ss58_address for n in ("outage", "slow")}
        seeded.set_ema("local", {uid["outage"]: 0.5, uid["slow"]: 0.5}, hotkeys, 0)
    subnet.hub.fail_next(503, times=1000, path_contains="tiny-outage")  # the hub is down for this repo
    validator = subnet.validator("val", workdir, eval_timeout_s=0.5)  # the worker cannot finish in time
    try:
        report = validator.run_round()
        u = report.uids
        # validator faults: retried, then the miner keeps its previous score
        assert u[uid["outage"]].status == EvalStatus.HELD and "HTTP 503" in u[uid["outage"]].detail
        assert u[uid["slow"]].status == EvalStatus.HELD and "our side" in u[uid["slow"]].detail
        assert validator.state.ema("local") == {uid["outage"]: 0.5, uid["slow"]: 0.5, uid["copier"]: 0.0}
        # miner faults and uids without a usable commitment: zero
        assert u[uid["garbled"]].status == PlanStatus.MALFORMED
        assert u[uid["copier"]].status == EvalStatus.MINER_FAULT and "salted hash" in u[uid["copier"]].detail
        assert u[uid["silent"]].status == PlanStatus.NO_COMMITMENT
        assert u[uid["elsewhere"]].status == PlanStatus.UNKNOWN_COMPETITION
        for name in ("garbled", "copier", "silent", "elsewhere", "val"):
            assert u[uid[name]].weight == 0.0
        assert u[uid["outage"]].weight == pytest.approx(0.5) and u[uid["slow"]].weight == pytest.approx(0.5)
        assert report.weights_set
        on_chain = subnet.chain.weights(NETUID)[uid["val"]]
        assert on_chain[uid["outage"]] == pytest.approx(1.0) and on_chain[uid["slow"]] == pytest.approx(1.0)
        # the fault log tells them apart
        miner = {(f.uid, f.kind) for f in validator.state.faults(kind="miner")}
        ours = {(f.uid, f.kind) for f in validator.state.faults(kind="validator")}
        assert miner == {(uid["garbled"], "miner"), (uid["copier"], "miner")}
        assert ours == {(uid["outage"], "validator"), (uid["slow"], "validator")}
        assert validator.state.eval_count() == 0  # nothing was scored: nothing cached
        rows = validator.state.round_uids("local", report.round_block)  # the state holds the plain values
        assert rows[uid["outage"]][0] == "held" and rows[uid["copier"]][0] == "miner_fault"
        assert rows[uid["garbled"]][0] == "malformed" and type(rows[uid["outage"]][0]) is str

        # next round: the refusal is remembered (no second download), the outage is over
        subnet.hub.server.clear_faults()
        subnet.chain.advance(10)
        downloads_before = validator.models.downloads
        report2 = validator.run_round()
        assert report2.uids[uid["copier"]].status == EvalStatus.MINER_FAULT
        assert validator.models.downloads - downloads_before == 1  # only the repo the outage hid
        assert report2.uids[uid["outage"]].status == EvalStatus.HELD  # downloaded now, but its evaluation still times out
        assert (validator.workdir / "models" / subnet.wallets["outage"].hotkey.ss58_address).is_dir()
        assert not (validator.workdir / "models" / subnet.wallets["copier"].hotkey.ss58_address).exists()
    finally:
        validator.close()


def test_a_trickling_repo_is_the_hubs_fault_and_holds_up_no_other_model(make_subnet, local_base_dir, tmp_path):
    from flock_subnet.validator.service import Validator
    from tests.validator.conftest import fast_config

    subnet = make_subnet()
    subnet.add_validator("val")
    subnet.add_miner("slow")
    subnet.add_miner("quick")
    subnet.publish("slow", "alice", local_base_dir, "tiny-trickle")
    subnet.publish("quick", "bob", local_base_dir, "tiny-quick")
    subnet.advance_to_next_round()
    subnet.hub.server.trickle_next(50_000, times=1000, path_contains="tiny-trickle/resolve")
    hub = subnet.hub.client(None, min_bytes_per_s=10_000_000, min_deadline_s=1.0)
    validator = Validator(
        subnet.chain, hub, subnet.wallets["val"], NETUID, [LOCAL], tmp_path / "val", config=fast_config(subnet.cache_dir)
    )
    try:
        report = validator.run_round()
        slow, quick = report.uids[subnet.uids["slow"]], report.uids[subnet.uids["quick"]]
        assert quick.status == EvalStatus.EVALUATED
        assert slow.status == EvalStatus.HELD and "too slow" in slow.detail
        assert validator.state.faults(kind="miner") == []
    finally:
        validator.close()


def test_a_worker_over_its_memory_cap_holds_the_miner_and_a_rate_limit_is_waited_out(make_subnet, local_base_dir, tmp_path):
    subnet = make_subnet()
    subnet.add_validator("val")
    subnet.add_miner("busy")
    subnet.publish("busy", "alice", local_base_dir, "tiny-busy")
    subnet.advance_to_next_round()
    subnet.hub.fail_next(429, times=2, retry_after=0.05, path_contains="tiny-busy")  # the hub asks us to wait, twice
    workdir = tmp_path / "val"
    with ValidatorState(workdir / "state.db") as seeded:
        seeded.set_ema("local", {subnet.uids["busy"]: 0.5}, {subnet.uids["busy"]: subnet.wallets["busy"].hotkey.ss58_address}, 0)
    validator = subnet.validator("val", workdir, memory_limit_mb=200)  # the worker cannot even import torch
    try:
        report = validator.run_round()
        outcome = report.uids[subnet.uids["busy"]]
        assert outcome.status == EvalStatus.HELD and "control run failed too" in outcome.detail
        assert validator.models.downloads == 1 and outcome.content_hash is not None  # admitted after the 429s
        assert validator.state.ema("local") == {subnet.uids["busy"]: 0.5}
        assert validator.state.faults(kind="miner") == [] and report.weights_set
        assert validator.state.eval_count() == 0  # nothing cached: the next round evaluates again
    finally:
        validator.close()


def test_a_full_disk_is_the_validators_fault(make_subnet, local_base_dir, tmp_path, monkeypatch):
    import errno

    from flock_subnet.hub.huggingface import HuggingFaceHub

    subnet = make_subnet()
    subnet.add_validator("val")
    subnet.add_miner("full")
    subnet.publish("full", "alice", local_base_dir, "tiny-full")
    subnet.advance_to_next_round()
    real_fetch = HuggingFaceHub._fetch

    def fetch(self, repo_id, sha, remote, target, bar):
        if repo_id.endswith("tiny-full") and remote.name.endswith(".safetensors"):
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real_fetch(self, repo_id, sha, remote, target, bar)

    monkeypatch.setattr(HuggingFaceHub, "_fetch", fetch)
    workdir = tmp_path / "val"
    uid = subnet.uids["full"]
    with ValidatorState(workdir / "state.db") as seeded:
        seeded.set_ema("local", {uid: 0.5}, {uid: subnet.wallets["full"].hotkey.ss58_address}, 0)
    validator = subnet.validator("val", workdir)
    try:
        report = validator.run_round()
        assert report.uids[uid].status == EvalStatus.HELD and "No space left" in report.uids[uid].detail
        assert validator.state.ema("local") == {uid: 0.5}
        assert validator.state.faults(kind="miner") == [] and report.weights_set
        monkeypatch.setattr(HuggingFaceHub, "_fetch", real_fetch)  # space freed: the next round admits it
        subnet.chain.advance(10)
        assert validator.run_round().uids[uid].status == EvalStatus.EVALUATED
    finally:
        validator.close()
