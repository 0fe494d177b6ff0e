"""A training process killed with SIGKILL after a checkpoint resumes where it stopped.

The interrupted-and-resumed run ends with exactly the weights and optimizer state of an
uninterrupted run with the same settings: same step count, same optimizer moments, same data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from flock_subnet.miner.training import TrainConfig, train

STEPS = 8
SAVE_EVERY = 2


def _cli(output_dir: Path, model_dir: Path, cache_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "flock_subnet", "miner", "train",
        "--output-dir", str(output_dir), "--init-model", str(model_dir), "--cache-dir", str(cache_dir),
        "--num-samples", "128", "--batch-tokens", "1024", "--lr", "3e-3", "--warmup-steps", "3",
        "--max-steps", str(STEPS), "--save-every", str(SAVE_EVERY), "--device", "cpu",
        "--no-progress", "--wandb.off", "--json", *extra,
    ]


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_model_dir, model_cache_dir):
    out = tmp_path / "killed"
    latest = out / "checkpoints" / "LATEST"
    proc = subprocess.Popen(_cli(out, tiny_model_dir, model_cache_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not latest.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model").exists(), "the run finished before it was killed"
    saved_step = int(latest.read_text().strip().split("-")[1])
    assert 0 < saved_step < STEPS

    resumed = subprocess.run(_cli(out, tiny_model_dir, model_cache_dir, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = json.loads(resumed.stdout)
    assert result["resumed_from_step"] >= saved_step
    assert result["steps"] == STEPS

    reference = train(
        TrainConfig(
            output_dir=tmp_path / "straight", init_model_dir=tiny_model_dir, cache_dir=model_cache_dir,
            num_samples=128, batch_tokens=1024, lr=3e-3, warmup_steps=3, max_steps=STEPS, save_every=SAVE_EVERY,
            device="cpu", progress_bar=False,
        )
    )
    final = out / "checkpoints" / f"step-{STEPS:08d}"
    optimizer = torch.load(final / "optimizer.pt", weights_only=True)
    steps_seen = {int(state["step"]) for state in optimizer["state"].values()}
    assert steps_seen == {STEPS}, "optimizer moments were not restored"
    straight = torch.load(reference.checkpoint_dir / f"step-{STEPS:08d}" / "optimizer.pt", weights_only=True)
    for key, state in straight["state"].items():
        assert torch.allclose(state["exp_avg_sq"], optimizer["state"][key]["exp_avg_sq"], rtol=1e-4, atol=1e-10)
    a = load_file(str(out / "model" / "model.safetensors"))
    b = load_file(str(reference.output_dir / "model.safetensors"))
    for name in b:
        assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-5), name
    print("max weight difference", max(float((a[n] - b[n]).abs().max()) for n in b))
    assert os.listdir(out / "checkpoints").count("LATEST") == 1


def test_sigterm_saves_the_state_and_a_lora_run_resumes_from_it(tmp_path, tiny_model_dir, model_cache_dir):
    out = tmp_path / "terminated"
    command = _cli(out, tiny_model_dir, model_cache_dir, "--lora", "--lora-r", "4", "--logging.debug")
    command[command.index("--max-steps") + 1] = "100000"
    command[command.index("--save-every") + 1] = "100000"
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # the debug log reports every 10 steps
            if "step 10 loss" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    latest = (out / "checkpoints" / "LATEST").read_text().strip()
    saved = int(latest.split("-")[1])
    assert saved >= 10

    resumed = train(
        TrainConfig(
            output_dir=out, init_model_dir=tiny_model_dir, cache_dir=model_cache_dir, num_samples=128, batch_tokens=1024,
            lr=3e-3, warmup_steps=3, max_steps=saved + 2, save_every=SAVE_EVERY, device="cpu", progress_bar=False,
            lora=True, lora_r=4, resume=True,
        )
    )
    assert resumed.resumed_from_step == saved and resumed.steps == saved + 2
