"""The loop waiting for rounds, the heartbeat, the status command and the round report's outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from loguru import logger

from flock_subnet.config import WandbSettings
from flock_subnet.rules import protocol
from flock_subnet.validator.plan import PlanStatus
from flock_subnet.validator.report import CompetitionRound, EvalStatus, RoundReport, UidReport
from flock_subnet.validator.state import SubmissionState, ValidatorState, WeightSet, WeightSubmission


def test_run_waits_for_new_rounds_and_beats(make_subnet, tmp_path, monkeypatch):
    subnet = make_subnet()
    subnet.add_validator("val")
    subnet.add_miner("idle")  # registered, never commits
    heartbeat = tmp_path / "heartbeat.json"
    monkeypatch.setenv("FLOCK_HEARTBEAT", str(heartbeat))
    monkeypatch.setenv("WANDB_MODE", "offline")  # no key: the run is written offline
    wandb_dir = tmp_path / "wandb"
    validator = subnet.validator("val", tmp_path / "val", wandb_settings=WandbSettings(directory=str(wandb_dir)))
    stop = threading.Event()
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.update(rounds=validator.run(stop, max_rounds=2)))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not heartbeat.exists():
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        first_round = (subnet.chain.block() // 10) * 10
        with ValidatorState(tmp_path / "val" / "state.db") as state:
            assert state.round_progress("local", first_round).status == "done"
        assert thread.is_alive()  # waiting: the next round has not started
        subnet.chain.advance(10)
        thread.join(timeout=60)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert result["rounds"] == 2
    runs = list((wandb_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1  # one run per validator, across rounds
    assert list(runs[0].glob("*.wandb"))
    record = json.loads(heartbeat.read_text())
    assert record["status"] == "waiting" and record["beats"] >= 1
    with ValidatorState(tmp_path / "val" / "state.db") as state:
        assert state.round_progress("local", first_round + 10).status == "done"
        assert state.last_weights() is None  # nothing to reward: weights left alone
        assert state.ema("local") == {}


def test_a_model_committed_during_the_round_is_named_as_waiting(make_subnet, tmp_path):
    subnet = make_subnet()
    subnet.add_validator("val")
    uid = subnet.add_miner("late")
    subnet.chain.advance_to((subnet.chain.block() // 10 + 1) * 10 + 5)  # mid-round
    subnet.commit("late", protocol.encode(protocol.ModelReference("late/m", "a" * 40, "b" * 64, "local")))
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m), level="INFO")
    validator = subnet.validator("val", tmp_path / "val")
    try:
        report = validator.run_round()
    finally:
        validator.close()
        logger.remove(sink)
    assert report.uids[uid].status == "pending" and report.evaluations_run == 0
    assert any(f"uid {uid} late/m@aaaaaaaa waits" in line and "eligible from the next round" in line for line in lines), lines


def _status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flock_subnet.cli", "validator", "status", *args], capture_output=True, text=True, timeout=60
    )


def test_status_command(tmp_path):
    workdir = tmp_path / "val"
    with ValidatorState(workdir / "state.db") as state:
        state.start_round("local", 100, 7)
        state.set_ema("local", {1: 0.75, 2: 0.25}, {1: "A", 2: "B"}, 100)
        state.finish_round("local", 100)
        state.record_weights(WeightSet(103, 100, [0, 1, 2], [0.0, 0.75, 0.25], True, "ok", 1000))
        state.log_fault("miner", "malformed commitment", uid=3, round_block=100)
        state.record_submission(WeightSubmission(100, 103, SubmissionState.COMMITTED, "hidden", [1, 2], [0.75, 0.25]))
        state.record_submission(WeightSubmission(110, 112, SubmissionState.REFUSED, "version 1001 required", [1], [1.0]))
    result = _status("--workdir", str(workdir), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["latest_round"] == {"competition": "local", "round_block": 100, "seed": 7, "status": "done"}
    assert summary["last_weights"]["weights"] == {"1": 0.75, "2": 0.25}
    assert summary["recent_faults"][0]["reason"] == "malformed commitment"
    submissions = summary["weight_submissions"]
    assert [{k: s[k] for k in ("round_block", "block", "state", "reason")} for s in submissions] == [
        {"round_block": 110, "block": 112, "state": "refused", "reason": "version 1001 required"},
        {"round_block": 100, "block": 103, "state": "committed", "reason": "hidden"},
    ]
    table = _status("--workdir", str(workdir))
    assert table.returncode == 0 and "last weights set at block 103" in table.stdout
    assert "refused" in table.stdout and "version 1001 required" in table.stdout
    assert "malformed commitment" in table.stdout
    missing = _status("--workdir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no validator state" in missing.stderr


def test_round_report_outputs():
    report = RoundReport(
        block=105,
        rounds=[CompetitionRound("local", 100, 42, winner=2)],
        uids={
            1: UidReport(1, "A", EvalStatus.EVALUATED, "local", "alice/a@12345678", 90, "h1", 2.0, epsilon=0.01, ema=0.2),
            2: UidReport(2, "B", EvalStatus.CACHED, "local", "bob/b@12345678", 91, "h2", 1.5, win_rate=1.0, weight=1.0),
            3: UidReport(3, "C", PlanStatus.MALFORMED, detail="unknown commitment format"),
        },
        weights={1: 0.0, 2: 1.0, 3: 0.0},
        weights_set=True,
        timings={"round_s": 3.5},
    )
    assert report.round_block == 100 and report.seed == 42 and report.ran
    data = json.loads(json.dumps(report.to_dict()))
    assert data["uids"]["2"]["weight"] == 1.0 and data["round_block"] == 100
    assert type(report.to_dict()["uids"]["2"]["status"]) is str and data["uids"]["3"]["status"] == "malformed"
    payload = report.wandb_payload()
    assert payload["uid/2/loss"] == 1.5 and payload["uid/2/win_rate"] == 1.0 and payload["uid/2/weight"] == 1.0
    assert payload["uid/1/epsilon_adv"] == 0.01 and payload["uid/1/model"] == "alice/a@12345678"
    assert type(payload["uid/2/status"]) is str and payload["uid/2/status"] == "cached"
    assert "uid/3/loss" not in payload and payload["local/winner"] == 2 and payload["timing/round_s"] == 3.5
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(report.table())
    text = console.export_text()
    assert "local round 100" in text and "weights set" in text and "bob/b@12345678" in text


def test_a_round_on_a_commit_reveal_subnet_commits_then_sees_the_reveal(make_subnet, miner_models, chain_owner, tmp_path):
    from flock_subnet import SPEC_VERSION
    from tests.fixtures.chain import NETUID

    subnet = make_subnet(commit_reveal_enabled=True)
    vuid = subnet.add_validator("val")
    subnet.add_miner("good")
    subnet.publish("good", "alice", miner_models["good"], "tiny-good")
    subnet.advance_to_next_round()
    validator = subnet.validator("val", tmp_path / "val")
    report = validator.run_round()
    assert report.weights_set and "committed" in report.weights_message
    (committed,) = validator.state.weight_submissions()
    assert committed.state is SubmissionState.COMMITTED
    assert vuid not in subnet.chain.weights(NETUID)  # hidden until the reveal
    subnet.chain.advance_to(committed.reveal_by)  # past the next round start: that round commits again
    validator.run_round()
    newer, revealed = validator.state.weight_submissions()
    assert revealed.id == committed.id and revealed.state is SubmissionState.REVEALED
    assert newer.state is SubmissionState.COMMITTED
    assert max(subnet.chain.weights(NETUID)[vuid].values()) == 1.0

    subnet.chain.set_hyperparameter(chain_owner, NETUID, "weights_version", SPEC_VERSION + 1)
    before = subnet.chain.metagraph(NETUID).neuron(vuid).last_update
    subnet.advance_to_next_round()
    report = validator.run_round()
    assert not report.weights_set and f"version {SPEC_VERSION + 1}" in report.weights_message
    newest = validator.state.weight_submissions()[0]
    assert newest.state is SubmissionState.REFUSED and str(SPEC_VERSION + 1) in newest.reason
    assert subnet.chain.metagraph(NETUID).neuron(vuid).last_update == before  # nothing was committed
    validator.state.close()
