"""`miner train` under torchrun: two CPU processes (gloo) train exactly like one, and resume after kills.

Every run here is a real `python -m torch.distributed.run --standalone --nproc-per-node 2 -m
flock_subnet miner train ...` subprocess. A two-process run (DDP or FSDP) stopped with SIGTERM,
or killed with SIGKILL, and started again with `--resume` ends where one uninterrupted process
with the same global batch and seed ends: the same final loss within a relative 1e-4 and the
same weights within 1e-4 (the only difference is the order of floating-point sums).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from flock_subnet.miner.training import TrainConfig, TrainingError, train
from flock_subnet.miner.training.distributed import Ranks, rank_device, ranks_from_env, share_of

STEPS = 16
SAVE_EVERY = 2
LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-4
SETTINGS = {"num_samples": 128, "batch_tokens": 1024, "lr": 3e-3, "warmup_steps": 3, "save_every": SAVE_EVERY, "device": "cpu"}


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}


def _torchrun(output_dir: Path, model_dir: Path, cache_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "flock_subnet", "miner", "train",
        "--output-dir", str(output_dir), "--init-model", str(model_dir), "--cache-dir", str(cache_dir),
        "--num-samples", "128", "--batch-tokens", "1024", "--lr", "3e-3", "--warmup-steps", "3",
        "--max-steps", str(STEPS), "--save-every", str(SAVE_EVERY), "--device", "cpu",
        "--no-progress", "--wandb.off", "--json", *extra,
    ]


def _run(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(), check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, f"only rank 0 prints the result, got: {done.stdout}"
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model_dir, model_cache_dir):
    """One process, the same global batch and seed, never interrupted."""
    out = tmp_path_factory.mktemp("one-process") / "run"
    config = TrainConfig(output_dir=out, init_model_dir=tiny_model_dir, cache_dir=model_cache_dir,
                         max_steps=STEPS, progress_bar=False, **SETTINGS)
    return train(config)


def _same_model(folder: Path, reference_folder: Path) -> None:
    ours, theirs = load_file(str(folder / "model.safetensors")), load_file(str(reference_folder / "model.safetensors"))
    assert ours.keys() == theirs.keys()
    worst = max(float((ours[name] - theirs[name]).abs().max()) for name in theirs)
    assert worst <= WEIGHT_ATOL, f"weights differ by {worst}"


def _kill_after_first_checkpoint(cmd: list[str], out: Path, sig: signal.Signals) -> subprocess.Popen:
    latest = out / "checkpoints" / "LATEST"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not latest.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        if sig is signal.SIGKILL:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks, at once
        else:
            proc.send_signal(sig)  # to torchrun, which passes it on to the ranks
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc


def test_two_processes_stopped_with_sigterm_and_resumed_end_like_one_process(
    reference, tmp_path, tiny_model_dir, model_cache_dir
):
    out = tmp_path / "ddp"
    proc = _kill_after_first_checkpoint(_torchrun(out, tiny_model_dir, model_cache_dir), out, signal.SIGTERM)
    assert proc.returncode != 0, "the run finished before it was stopped"
    assert not (out / "model").exists()
    saved = int((out / "checkpoints" / "LATEST").read_text().strip().split("-")[1])
    assert 0 < saved < STEPS
    result = _run(_torchrun(out, tiny_model_dir, model_cache_dir, "--resume"))
    assert result["world_size"] == 2 and result["parallel"] == "ddp"
    assert result["resumed_from_step"] == saved and result["steps"] == STEPS
    assert result["train_loss"] == pytest.approx(reference.train_loss, rel=LOSS_RTOL)
    _same_model(out / "model", reference.output_dir)
    assert json.loads((out / "train_summary.json").read_text())["world_size"] == 2


def test_fsdp_killed_with_sigkill_resumes_from_its_full_state(reference, tmp_path, tiny_model_dir, model_cache_dir):
    out = tmp_path / "killed"
    cmd = _torchrun(out, tiny_model_dir, model_cache_dir, "--parallel", "fsdp")
    proc = _kill_after_first_checkpoint(cmd, out, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model").exists()
    saved = int((out / "checkpoints" / "LATEST").read_text().strip().split("-")[1])
    assert 0 < saved < STEPS
    result = _run(cmd + ["--resume"])
    assert result["parallel"] == "fsdp" and result["resumed_from_step"] >= saved and result["steps"] == STEPS
    assert result["train_loss"] == pytest.approx(reference.train_loss, rel=LOSS_RTOL)
    _same_model(out / "model", reference.output_dir)
    # the checkpoint holds whole tensors under the exported model's names, not one rank's shard
    weights = load_file(str(out / "checkpoints" / f"step-{STEPS:08d}" / "trainable.safetensors"))
    straight = load_file(str(reference.checkpoint_dir / f"step-{STEPS:08d}" / "trainable.safetensors"))
    assert {k: v.shape for k, v in weights.items()} == {k: v.shape for k, v in straight.items()}


def test_ranks_deal_out_every_sample_of_a_batch_once():
    batch = tuple(range(7))
    shares = [share_of(batch, Ranks(rank=r, world_size=3)) for r in range(3)]
    assert sorted(i for share in shares for i in share) == list(batch)
    assert shares == [(0, 3, 6), (1, 4), (2, 5)]
    assert share_of(batch, Ranks()) == batch


def test_the_launcher_environment_names_the_rank_and_its_device():
    ranks = ranks_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert ranks == Ranks(rank=1, world_size=2, local_rank=1) and not ranks.is_main and ranks.enabled
    assert ranks_from_env({}) == Ranks()
    assert rank_device(None, ranks, cuda_available=True) == "cuda:1"
    assert rank_device("cuda", ranks, cuda_available=True) == "cuda:1"
    assert rank_device(None, ranks, cuda_available=False) == "cpu"
    assert rank_device("cpu", ranks, cuda_available=True) == "cpu"
    assert rank_device(None, Ranks(), cuda_available=True) == "cuda"
    with pytest.raises(TrainingError, match="torchrun"):
        ranks_from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(TrainingError, match="--device cpu"):
        rank_device("cuda", ranks, cuda_available=False)
