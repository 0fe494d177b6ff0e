"""Which warm workers the evaluation pool runs: per visible GPU, per configured device, or N on CPU."""

from __future__ import annotations

import argparse

import pytest

from flock_subnet.config import EvalPoolSettings, eval_pool_settings
from flock_subnet.evaluation.pool import (
    DeviceSpec,
    WorkerPool,
    plan_devices,
    visible_gpus,
)


def test_visible_gpus_follow_cuda_visible_devices_then_the_device_files(tmp_path):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "1,-1,0"}) == ["1"]  # CUDA stops at an invalid entry
    for name in ("nvidia0", "nvidia1", "nvidia10", "nvidiactl", "nvidia-uvm"):
        (tmp_path / name).write_text("")
    assert visible_gpus({}, dev=str(tmp_path)) == ["0", "1", "10"]


def test_one_worker_per_gpu_pinned_with_cuda_visible_devices():
    specs = plan_devices(gpus=["4", "6"], environ={})
    assert [s.name for s in specs] == ["cuda:0", "cuda:1"]
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in specs] == ["4", "6"]  # the parent's ids, mapped
    assert {s.device for s in specs} == {"cuda:0"}  # inside its worker, the one visible GPU
    chosen = plan_devices(["cuda:1"], gpus=["4", "6"], environ={})
    assert [(s.name, s.env["CUDA_VISIBLE_DEVICES"]) for s in chosen] == [("cuda:1", "6")]
    shared = plan_devices(workers=3, gpus=["0", "1"], environ={})
    assert [s.name for s in shared] == ["cuda:0", "cuda:1", "cuda:0#1"]


def test_cpu_keeps_one_default_worker_unless_told_and_splits_the_cores():
    (default,) = plan_devices(gpus=[], environ={})
    assert default.device is None and default.env == {}  # what the validator always ran
    two = plan_devices(workers=2, gpus=[], cpu_count=8, environ={})
    assert [s.name for s in two] == ["cpu#0", "cpu#1"]
    assert all(s.device == "cpu" and s.env == {"CUDA_VISIBLE_DEVICES": "", "FLOCK_TORCH_THREADS": "4"} for s in two)
    chosen = plan_devices(["cpu", "cpu"], gpus=[], cpu_count=8, environ={"FLOCK_TORCH_THREADS": "1"})
    assert all("FLOCK_TORCH_THREADS" not in s.env for s in chosen)  # the operator's choice stands
    with pytest.raises(ValueError, match="at least 1"):
        plan_devices(workers=0, gpus=[])


def test_pool_settings_come_from_flags_then_the_environment(monkeypatch):
    monkeypatch.setenv("FLOCK_EVAL_DEVICES", "cuda:0, cuda:1")
    monkeypatch.setenv("FLOCK_EVAL_WORKERS", "4")
    assert eval_pool_settings() == EvalPoolSettings(("cuda:0", "cuda:1"), 4)
    flags = argparse.Namespace(eval_devices="cpu", eval_workers=2)
    assert eval_pool_settings(flags) == EvalPoolSettings(("cpu",), 2)
    monkeypatch.setenv("FLOCK_EVAL_WORKERS", "many")
    with pytest.raises(ValueError, match="FLOCK_EVAL_WORKERS"):
        eval_pool_settings()


def test_acquire_prefers_the_least_used_free_device_and_answers_none_when_all_left():
    pool = WorkerPool([DeviceSpec("a", "cpu"), DeviceSpec("b", "cpu")])
    first = pool.acquire()
    second = pool.acquire()
    assert {first.name, second.name} == {"a", "b"}
    first.jobs += 1
    pool.release(first)
    pool.release(second)
    assert pool.acquire() is second  # fewer jobs served
    pool.remove(second, "broken")
    assert [s.name for s in pool.live] == ["a"]
    assert pool.acquire() is first
    pool.remove(first, "broken too")
    assert pool.acquire() is None
    pool.restore()
    assert [s.name for s in pool.live] == ["a", "b"] and all(s.removed is None for s in pool.slots)
    pool.close()
