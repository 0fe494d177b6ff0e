"""`scripts/bench_serve.py` runs on the CPU, the server answers like `generate`, and `ratio=` comes last
(the ratio is printed, not asserted: it depends on the machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_serve.py"


def test_bench_runs_and_prints_the_ratio_last(tiny_model_dir):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(tiny_model_dir), "--requests", "8", "--max-tokens", "8",
         "--repeats", "1", "--threads", "1"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert "same_answer_as_generate=True" in lines
    assert [line.split()[0] for line in lines if "tokens/s=" in line] == ["naive", "serve", "serve"]
    assert lines[-1].startswith("ratio=") and float(lines[-1].split("=")[1]) > 0
    print(done.stdout)
