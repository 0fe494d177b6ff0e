"""Every device busy: a validator round on a pool of two warm workers (on CPU, the same code path as GPUs).

Two workers score exactly as one does and both take models; a worker killed with SIGKILL in the
middle of a job is replaced and its model is not blamed; a device that always fails leaves the
pool, its model is evaluated on another device, and with no device left the models are held.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

from flock_subnet.evaluation.warm import WarmWorker
from flock_subnet.validator.report import EvalStatus

NAMES = {"base": ("alice", 1.0), "fair": ("bob", 0.9), "good": ("mallory", 1.1)}  # user, scale of the MLP weights
SAMPLES = 8  # enough to tell the three models apart; the pool, not the scores, is under test


def _scaled(base: Path, dest: Path, scale: float) -> Path:
    """The base model with its MLP weights scaled: another model, with another loss."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(base, dest)
    path = dest / "model.safetensors"
    tensors = load_file(str(path))
    for name, tensor in tensors.items():
        if ".mlp." in name:
            tensors[name] = (tensor.float() * scale).to(tensor.dtype)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return dest


@pytest.fixture
def three_miners(make_subnet, local_base_dir, tmp_path):
    subnet = make_subnet()
    subnet.add_validator("val")
    for name, (user, scale) in NAMES.items():
        subnet.add_miner(name)
        model = local_base_dir if scale == 1.0 else _scaled(local_base_dir, tmp_path / f"model-{name}", scale)
        subnet.publish(name, user, model, f"tiny-{name}")
    subnet.advance_to_next_round()
    return subnet


@contextmanager
def _round(subnet, workdir: Path, **config):
    """(report, the pool's devices, the validator) of one round, before the validator closes."""
    validator = subnet.validator("val", workdir, eval_samples=SAMPLES, set_weights=False, **config)
    try:
        report = validator.run_round()
        yield report, list(validator.evaluator.pool.slots), validator
    finally:
        validator.close()


def test_two_workers_score_like_one_and_both_take_models(three_miners, tmp_path):
    subnet = three_miners
    with _round(subnet, tmp_path / "one") as (one, one_slots, _):
        pass
    with _round(subnet, tmp_path / "two", eval_workers=2) as (two, two_slots, validator):
        control_runs = validator.evaluator.control_runs
    uids = [subnet.uids[name] for name in NAMES]
    assert len(one_slots) == 1 and [s.name for s in two_slots] == ["cpu#0", "cpu#1"]
    for uid in uids:
        assert one.uids[uid].status == two.uids[uid].status == EvalStatus.EVALUATED
        assert two.uids[uid].loss == pytest.approx(one.uids[uid].loss, abs=1e-5)
        assert two.uids[uid].weight == pytest.approx(one.uids[uid].weight, abs=1e-9)
    assert len({one.uids[uid].loss for uid in uids}) == 3  # three different models
    assert all(slot.jobs >= 1 for slot in two_slots)  # both devices took models ...
    assert two_slots[0].pids and two_slots[1].pids and two_slots[0].pids.isdisjoint(two_slots[1].pids)  # ... in two processes
    assert sum(slot.jobs for slot in two_slots) == 3 and control_runs == 0


def test_a_worker_killed_mid_job_is_replaced_and_its_model_is_not_blamed(three_miners, tmp_path, monkeypatch):
    subnet = three_miners
    target = subnet.wallets["good"].hotkey.ss58_address
    killed: list[int] = []
    real_evaluate, real_read = WarmWorker.evaluate, WarmWorker._read_line

    def evaluate(self, model_dir, *args, **kwargs):
        self.kill_during_job = target in str(model_dir) and not killed
        return real_evaluate(self, model_dir, *args, **kwargs)

    def read_line(self, timeout_s, what):
        if getattr(self, "kill_during_job", False) and what.startswith("the evaluation"):
            self.kill_during_job = False
            killed.append(self._proc.pid)
            os.killpg(self._proc.pid, signal.SIGKILL)  # the job is on its way: the worker dies holding it
        return real_read(self, timeout_s, what)

    monkeypatch.setattr(WarmWorker, "evaluate", evaluate)
    monkeypatch.setattr(WarmWorker, "_read_line", read_line)
    with _round(subnet, tmp_path / "val", eval_workers=2) as (report, slots, validator):
        assert len(killed) == 1
        good = report.uids[subnet.uids["good"]]
        assert good.status == EvalStatus.EVALUATED and math.isfinite(good.loss)
        assert all(report.uids[subnet.uids[n]].status == EvalStatus.EVALUATED for n in NAMES)
        assert validator.evaluator.control_runs == 1  # the base model passed on that device: the device is fine
        assert all(slot.removed is None for slot in slots)  # so it stays in the pool, with a new worker
        assert sum(slot.worker.starts for slot in slots) >= 3  # two workers, and the one that replaced the killed one
        assert validator.state.faults(kind="miner") == [] and validator.state.faults(kind="validator") == []


def test_a_device_that_always_fails_leaves_the_pool_and_with_none_left_models_are_held(three_miners, tmp_path):
    subnet = three_miners
    # a device this machine cannot use: its worker starts, then every job on it fails on our side
    with _round(subnet, tmp_path / "mixed", eval_devices=("cpu", "cuda:63")) as (report, slots, validator):
        assert [s.name for s in slots] == ["cpu#0", "cuda:63"]
        broken = slots[1]
        assert broken.removed is not None and "CUDA" in broken.removed and "control run failed too" in broken.removed
        assert all(report.uids[subnet.uids[n]].status == EvalStatus.EVALUATED for n in NAMES)  # all on cpu#0
        assert slots[0].jobs == 3 and validator.state.faults(kind="miner") == []

    with _round(subnet, tmp_path / "none", eval_devices=("cuda:63",)) as (report, slots, validator):
        for name in NAMES:
            outcome = report.uids[subnet.uids[name]]
            assert outcome.status == EvalStatus.HELD and "our side" in outcome.detail, outcome.detail
        assert slots[0].removed is not None and validator.evaluator.control_runs == 1  # found out once, then held
        assert validator.state.faults(kind="miner") == [] and validator.state.eval_count() == 0
