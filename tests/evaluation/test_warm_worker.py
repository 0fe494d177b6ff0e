"""The warm worker: the same results as the one-shot sandbox, faults split the same way, one start."""

from __future__ import annotations

import math
import os
import shutil
import signal
import time

import pytest

from flock_subnet.evaluation import EvaluatorFault, ModelFault, WarmWorker, evaluate_in_sandbox


def _nan_copy(src, dest):
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dest)
    path = dest / "model.safetensors"
    tensors = load_file(str(path))
    name = next(iter(tensors))
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(path), metadata={"format": "pt"})
    return dest


def test_warm_worker_matches_sandbox_and_survives_faults(tiny_model_dir, tmp_path):
    one_shot = evaluate_in_sandbox(tiny_model_dir, "local", seed=11, samples=8, timeout_s=300)
    broken = _nan_copy(tiny_model_dir, tmp_path / "nan-model")
    with WarmWorker() as worker:
        first = worker.evaluate(tiny_model_dir, "local", seed=11, samples=8, timeout_s=300)
        assert first.loss == pytest.approx(one_shot.loss, abs=1e-6)
        assert first.samples == one_shot.samples == 8
        with pytest.raises(ModelFault):
            worker.evaluate(broken, "local", seed=11, samples=8, timeout_s=300)
        other = worker.evaluate(tiny_model_dir, "local", seed=12, samples=8, timeout_s=300)
        assert math.isfinite(other.loss) and other.loss != first.loss
        assert worker.starts == 1  # one process served all three jobs


def test_warm_worker_restarts_after_being_killed_and_after_a_timeout(tiny_model_dir):
    with WarmWorker() as worker:
        worker.evaluate(tiny_model_dir, "local", seed=1, samples=4, timeout_s=300)
        os.killpg(worker._proc.pid, signal.SIGKILL)  # the OOM killer, say
        time.sleep(0.2)
        again = worker.evaluate(tiny_model_dir, "local", seed=1, samples=4, timeout_s=300)
        assert math.isfinite(again.loss) and worker.starts == 2
        with pytest.raises(EvaluatorFault, match="timed out"):
            worker.evaluate(tiny_model_dir, "local", seed=1, samples=64, timeout_s=0.01)
        assert worker._proc is None
        assert math.isfinite(worker.evaluate(tiny_model_dir, "local", seed=1, samples=4, timeout_s=300).loss)
        assert worker.starts == 3
