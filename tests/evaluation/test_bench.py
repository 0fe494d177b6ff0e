"""`scripts/bench_eval.py` runs and both methods agree on the loss (the ratio is printed, not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_eval.py"


def test_bench_runs_and_the_losses_agree(tiny_model_dir):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(tiny_model_dir), "--samples", "24", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("ratio=") and float(lines[-1].split("=")[1]) > 0
    assert any(line.startswith("loss difference") for line in lines)
    print(done.stdout)
