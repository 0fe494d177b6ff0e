"""pm2 for the ops tests: installed once from npm into a cache folder, run with a private PM2_HOME."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.helpers import ROOT

PM2_SPEC = "pm2@7"


def pm2_cache_dir() -> Path:
    return Path(os.environ.get("PM2_TEST_CACHE") or Path.home() / ".cache" / "flock-subnet-test" / "pm2")


@pytest.fixture(scope="session")
def pm2_binary() -> str:
    """The path of a pm2 executable, `npm install`ed into the cache on first use."""
    cache = pm2_cache_dir()
    binary = cache / "node_modules" / ".bin" / "pm2"
    if binary.exists():
        return str(binary)
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to install pm2 for the ops tests; install Node.js (it brings npm)")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            done = subprocess.run(
                [npm, "install", "--prefix", str(cache), PM2_SPEC, "--no-audit", "--no-fund", "--loglevel=error"],
                capture_output=True, text=True, timeout=300,
            )
            assert done.returncode == 0, f"npm install {PM2_SPEC} failed:\n{done.stdout}\n{done.stderr}"
    assert binary.exists(), f"npm installed pm2 but {binary} is missing"
    return str(binary)


@pytest.fixture(scope="session")
def pm2_env(tmp_path_factory, pm2_binary) -> dict[str, str]:
    """Environment for pm2 commands and the processes it starts: a private daemon in a temp folder."""
    base = tmp_path_factory.mktemp("pm2")
    env = dict(os.environ)
    env.update(
        PM2_HOME=str(base / "home"),
        FLOCK_LOG_DIR=str(base / "logs"),
        FLOCK_HEARTBEAT_DIR=str(base / "heartbeat"),
        FLOCK_PM2=pm2_binary,
    )
    if not (ROOT / ".venv" / "bin" / "python").exists():
        env["FLOCK_PYTHON"] = sys.executable
    yield env
    subprocess.run([pm2_binary, "kill"], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pm2(pm2_env, pm2_binary):
    from flock_subnet.ops.pm2 import Pm2

    return Pm2(pm2_binary, env=pm2_env)
