"""transformers loads a tiny Llama from the local hub at an old commit, through HF_ENDPOINT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_from_pretrained_at_an_old_sha_through_hf_endpoint(local_hub, tmp_path):
    # transformers reads HF_ENDPOINT when imported, so the check runs in a fresh process.
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(local_hub.env("alice"), HF_HOME=str(tmp_path / "hf-home"))
    probe = Path(__file__).with_name("transformers_probe.py")
    done = subprocess.run(
        [sys.executable, str(probe), str(tmp_path / "work")], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["sha1"] != result["sha2"]
    assert result["equals_v1"] is True and result["equals_v2"] is False
    assert 100_000 < result["parameters"] < 1_000_000
    assert result["tokens"] == result["local_tokens"] and result["tokens"]
    # the download went to the isolated cache, under the commit that was asked for
    snapshots = tmp_path / "hf-home" / "hub" / "models--alice--tiny-llama" / "snapshots"
    assert (snapshots / result["sha1"] / "model.safetensors").exists()
