"""scripts/localnet.sh refuses clearly when docker or its engine is missing (nothing is started)."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.ops.helpers import ROOT

SCRIPT = ROOT / "scripts" / "localnet.sh"
BASH = shutil.which("bash") or "/bin/bash"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([BASH, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def test_without_docker_installed(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "sed"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    for mode in ((), ("--check",), ("--stop",)):
        done = run(*mode, env=env)
        assert done.returncode == 1
        assert "docker is not installed" in done.stderr


def test_with_an_unreachable_docker_engine(tmp_path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "HOME": str(tmp_path),
           "FLOCK_LOCALNET_DIR": str(tmp_path / "localnet")}
    done = run("--check", env=env)
    assert done.returncode == 1
    if shutil.which("docker"):
        assert "Docker engine is not running" in done.stderr
    else:
        assert "docker is not installed" in done.stderr
    done = run(env=env)  # the full setup stops at the same check, before creating anything
    assert done.returncode == 1
    assert not (tmp_path / "localnet").exists()


def test_usage():
    assert run("--help", env=dict(os.environ)).stdout.startswith("A local subtensor for flock_subnet")
    bad = run("--nonsense", env=dict(os.environ))
    assert bad.returncode == 2 and "unknown option" in bad.stderr
