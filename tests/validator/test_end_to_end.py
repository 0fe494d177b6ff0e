"""A whole competition on the local chain and hub: miners commit, two validators agree on chain.

Validator 1 runs in this process (its first downloads hit hub 503s and are retried). Validator 2
runs as a real subprocess, is killed with SIGKILL in the middle of its evaluations, and is
started again: it loses no result, re-evaluates nothing, sets weights once, and lands exactly
the weights validator 1 set.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loguru import logger

from flock_subnet import SPEC_VERSION
from flock_subnet.validator.report import EvalStatus
from flock_subnet.validator.state import ValidatorState
from tests.fixtures.chain import NETUID
from tests.validator.conftest import EVAL_SAMPLES

RATE_LIMIT = 30
REPO_ROOT = Path(__file__).resolve().parents[2]


def _counter(db: Path, name: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
    except sqlite3.OperationalError:  # not migrated yet
        return 0
    return int(row[0]) if row else 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _validator_command(subnet, entry: list[str], workdir: Path) -> list[str]:
    return entry + [
        "--netuid", str(NETUID),
        "--wallet.name", "val2", "--wallet.path", str(subnet.wallet_path),
        "--subtensor.chain_endpoint", f"file://{subnet.chain.path}",
        "--hub.endpoint", subnet.hub.url,
        "--workdir", str(workdir), "--cache-dir", str(subnet.cache_dir),
        "--competitions", "local", "--max-rounds", "1", "--poll-interval", "0.1",
        "--eval-samples", str(EVAL_SAMPLES), "--retry-base", "0.05", "--wandb.off",
    ]


@pytest.fixture
def competition(make_subnet, miner_models):
    subnet = make_subnet(weights_rate_limit=RATE_LIMIT)
    subnet.add_validator("val1")
    subnet.add_validator("val2")
    for name in ("base", "fair", "good", "copy"):
        subnet.add_miner(name)
    subnet.chain.advance(RATE_LIMIT)  # past the registration blocks, so validators may set weights
    subnet.publish("base", "alice", miner_models["base"], "tiny-base")
    subnet.chain.advance(1)
    subnet.publish("fair", "bob", miner_models["fair"], "tiny-fair")
    subnet.chain.advance(1)
    subnet.publish("good", "alice", miner_models["good"], "tiny-good")
    subnet.chain.advance(1)
    subnet.publish("copy", "mallory", miner_models["good"], "tiny-good-copy")  # same bytes, own hotkey, later
    subnet.advance_to_next_round()
    return subnet


def test_two_validators_agree_and_a_killed_validator_resumes(competition, tmp_path):
    subnet = competition
    uid = subnet.uids
    retries: list[str] = []
    sink = logger.add(lambda m: retries.append(m), level="WARNING", filter=lambda r: "retrying" in r["message"])

    # --- validator 1, in process; the hub fails its first two file downloads ---------------------------
    subnet.hub.fail_next(503, times=2, path_contains="/resolve/")
    v1 = subnet.validator("val1", tmp_path / "val1")
    try:
        report = v1.run_round()
    finally:
        v1.close()
        logger.remove(sink)
    assert len(retries) == 2 and all("503" in line for line in retries)
    u = report.uids
    assert report.round_block == subnet.chain.block() and report.evaluations_run == 3
    assert {u[uid[n]].status for n in ("base", "fair", "good")} == {EvalStatus.EVALUATED}
    assert u[uid["copy"]].status == EvalStatus.CACHED  # byte-identical to "good": evaluated once
    assert u[uid["good"]].loss < u[uid["fair"]].loss < u[uid["base"]].loss
    assert u[uid["good"]].weight == 1.0 and u[uid["good"]].win_rate == 1.0
    assert u[uid["copy"]].weight == 0.0 and not u[uid["copy"]].competitive
    assert report.weights_set, report.weights_message
    on_chain_1 = subnet.chain.weights(NETUID)[uid["val1"]]
    assert max(on_chain_1, key=on_chain_1.get) == uid["good"]
    assert on_chain_1.get(uid["copy"], 0.0) == 0.0
    with ValidatorState(tmp_path / "val1" / "state.db") as state:
        assert state.faults(kind="miner") == []  # the hub's 503s were nobody's fault
        assert state.last_weights().version_key == SPEC_VERSION

    # --- validator 2, a real process killed with SIGKILL during its evaluations ----------------------------
    workdir = tmp_path / "val2"
    db = workdir / "state.db"
    scratch = tmp_path / "scratch"  # the evaluation workers' temporary folders, even a killed one's
    scratch.mkdir()
    env = {**os.environ, "FLOCK_LOG_LEVEL": "INFO", "TMPDIR": str(scratch)}
    first = subprocess.Popen(
        _validator_command(subnet, [sys.executable, "-m", "flock_subnet.cli", "validator", "run"], workdir),
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    workers: set[int] = set()
    deadline = time.monotonic() + 240
    while _counter(db, "evaluations") < 1:
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "validator 2 evaluated nothing in time"
        workers.update(_children(first.pid))
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)  # frozen, so it starts no new worker while we look
    workers.update(_children(first.pid))
    first.send_signal(signal.SIGKILL)
    first.wait()
    for pid in workers:  # its orphaned evaluation worker, if still running
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    done_before_kill = _counter(db, "evaluations")
    assert 1 <= done_before_kill < 3
    with ValidatorState(db) as state:
        progress = state.latest_round("local")
        assert progress.status == "in_progress" and progress.round_block == report.round_block
        assert state.weight_sets() == []

    second = subprocess.run(
        _validator_command(subnet, [sys.executable, str(REPO_ROOT / "neurons" / "validator.py")], workdir),
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    evaluated_again = second.stderr.count("evaluating uid")
    assert evaluated_again == 3 - done_before_kill  # cached results were not recomputed
    with ValidatorState(db) as state:
        assert state.counter("evaluations") == state.eval_count() == 3
        assert state.latest_round("local").status == "done"
        assert len(state.weight_sets(ok_only=True)) == 1
    on_chain = subnet.chain.weights(NETUID)
    assert on_chain[uid["val2"]] == pytest.approx(on_chain_1)  # the same weights as validator 1

    # --- a restart within the rate limit sets nothing twice ------------------------------------------------
    v2 = subnet.validator("val2", workdir)
    try:
        again = v2.run_round()
        assert not again.ran and not again.weights_set and "already set" in again.weights_message
        assert len(v2.state.weight_sets()) == 1
    finally:
        v2.close()
    assert subnet.chain.metagraph(NETUID).neuron(uid["val2"]).last_update == report.round_block
