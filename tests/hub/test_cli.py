"""`flock-subnet hub serve` as a real subprocess, and the client commands against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from flock_subnet.cli import main
from tests.hub.test_adapter import make_checkpoint


def test_hub_serve_subprocess_answers_and_stops_cleanly(tmp_path, capsys):
    env = {**os.environ, "FLOCK_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "flock_subnet", "hub", "serve", "--root", str(tmp_path / "hub"),
         "--port", "0", "--token", "alice=tok-alice", "--token", "bob=tok-bob", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        ready = json.loads(server.stdout.readline())
        url = ready["url"]
        assert url.startswith("http://127.0.0.1:") and ready["users"] == ["alice", "bob"]

        hub_flags = ["--hub.endpoint", url, "--hub.token", "tok-alice", "--json"]
        ckpt = make_checkpoint(tmp_path / "ckpt", seed=3)
        assert main(["hub", "upload", str(ckpt), "alice/cli", *hub_flags]) == 0
        sha = json.loads(capsys.readouterr().out)["revision"]

        assert main(["hub", "files", "alice/cli", "--revision", sha, *hub_flags]) == 0
        listing = json.loads(capsys.readouterr().out)
        assert listing["revision"] == sha
        assert {f["name"] for f in listing["files"]} >= {"config.json", "model.safetensors", "tokenizer.json"}

        out = tmp_path / "out"
        assert main(["hub", "download", "alice/cli", str(out), "--revision", sha, "--include", "*.safetensors", *hub_flags]) == 0
        assert json.loads(capsys.readouterr().out)["revision"] == sha
        assert (out / "model.safetensors").read_bytes() == (ckpt / "model.safetensors").read_bytes()

        # too large: refused with an error message, exit status 1, nothing downloaded
        assert main(["hub", "download", "alice/cli", str(tmp_path / "no"), "--revision", sha, "--max-bytes", "10", *hub_flags]) == 1
        assert "budget" in capsys.readouterr().err
        assert not (tmp_path / "no").exists()

        # a private repo is invisible to bob
        bob_flags = ["--hub.endpoint", url, "--hub.token", "tok-bob"]
        assert main(["hub", "files", "alice/cli", *bob_flags]) == 1
        assert "not found" in capsys.readouterr().err
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
    assert code == 0, server.stderr.read()


def test_hub_serve_rejects_malformed_token_pairs(tmp_path, capsys):
    assert main(["hub", "serve", "--root", str(tmp_path / "hub"), "--token", "alice"]) == 1
    assert "USER=TOKEN" in capsys.readouterr().err
