"""`flock-subnet check-model` as a user runs it: a real subprocess, JSON on stdout, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flock_subnet.models import checkpoint
from tests.evaluation.adversarial.builders import copy_model, marker_pickle

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def _run(*args: str, cache_dir) -> subprocess.CompletedProcess:
    env = dict(os.environ, FLOCK_CACHE_DIR=str(cache_dir), HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "flock_subnet.cli", "check-model", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_admits_a_good_model_and_refuses_a_bad_one_with_exit_zero(tiny_model_dir, model_cache_dir, tmp_path):
    content = checkpoint.content_hash(tiny_model_dir)
    salted = checkpoint.salted_hash(content, HOTKEY)
    good = _run(
        str(tiny_model_dir), "--competition", "local", "--hotkey", HOTKEY, "--salted-hash", salted, "--json",
        cache_dir=model_cache_dir,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {"ok": True, "reasons": [], "content_hash": content, "parameters": 1_049_216}

    bad = copy_model(tiny_model_dir, tmp_path / "bad")
    marker = tmp_path / "unpickled"
    (bad / "pytorch_model.bin").write_bytes(marker_pickle(marker))
    refused = _run(str(bad), "--competition", "local", "--hotkey", HOTKEY, "--json", cache_dir=model_cache_dir)
    assert refused.returncode == 0, refused.stderr
    report = json.loads(refused.stdout)
    assert report["ok"] is False
    assert any("pytorch_model.bin is not allowed" in r for r in report["reasons"])
    assert not marker.exists()


def test_cli_readable_summary_and_usage_errors(tiny_model_dir, model_cache_dir, tmp_path):
    summary = _run(str(tiny_model_dir), "--competition", "local", "--hotkey", HOTKEY, cache_dir=model_cache_dir)
    assert summary.returncode == 0, summary.stderr
    assert "admitted" in summary.stdout and "salted hash" in summary.stdout

    unknown = _run(str(tiny_model_dir), "--competition", "nope", "--hotkey", HOTKEY, cache_dir=model_cache_dir)
    assert unknown.returncode != 0
    assert "unknown competition 'nope'" in unknown.stderr

    missing = _run(str(tiny_model_dir), "--competition", "local", cache_dir=model_cache_dir)
    assert missing.returncode == 2 and "--hotkey" in missing.stderr

    # a hub competition whose base is not cached and cannot be fetched offline: a clear error, not a verdict
    hub_base = _run(
        str(tiny_model_dir), "--competition", "qwen05b", "--hotkey", HOTKEY, "--json",
        "--cache-dir", str(tmp_path / "empty-cache"), "--hub.endpoint", "http://127.0.0.1:9",
        cache_dir=model_cache_dir,
    )
    assert hub_base.returncode != 0 and hub_base.stdout == ""
    assert "error:" in hub_base.stderr
