"""The auto-updater against two real git repositories (an upstream and its clone) and real pm2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flock_subnet.ops.auto_update import needs_reinstall, update_once
from tests.ops.helpers import ROOT, wait_for, write_test_ecosystem

NAME = "flock-updated-neuron"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    import os

    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent)}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repos(tmp_path):
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    commit(upstream, {"pyproject.toml": "[project]\nname = 'x'\n", "app.py": "VERSION = 1\n"}, "first")
    subprocess.run(["git", "clone", "-q", str(upstream), str(tmp_path / "clone")], check=True, capture_output=True)
    return upstream, tmp_path / "clone"


def run_updater(clone: Path, pm2_env: dict, pm2_binary: str, marker: Path) -> subprocess.CompletedProcess:
    reinstall = f"{sys.executable} -c \"open({str(marker)!r}, 'a').write('reinstalled\\n')\""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "auto_update.py"), "--once", "--repo", str(clone),
         "--pm2", pm2_binary, "--pm2-names", f"{NAME},flock-not-running", "--reinstall-cmd", reinstall],
        env=pm2_env, capture_output=True, text=True, timeout=120,
    )


def test_pull_reinstall_and_restart(tmp_path, repos, pm2, pm2_env, pm2_binary):
    upstream, clone = repos
    control, starts, marker = tmp_path / "control", tmp_path / "starts", tmp_path / "reinstalled"
    control.write_text("run")
    pm2.start(write_test_ecosystem(tmp_path / "ecosystem.config.js", NAME, control, starts))
    try:
        before = wait_for(lambda: (p := pm2.get(NAME)) and p.online and p, what="the neuron to start")

        # dependencies changed upstream: pull, reinstall, restart
        new = commit(upstream, {"pyproject.toml": "[project]\nname = 'x'\ndependencies = ['y']\n"}, "deps")
        done = run_updater(clone, pm2_env, pm2_binary, marker)
        assert done.returncode == 0, done.stderr
        assert "updated" in done.stdout
        assert git(clone, "rev-parse", "HEAD") == new
        assert marker.read_text() == "reinstalled\n"
        after = wait_for(lambda: (p := pm2.get(NAME)) and p.online and p.restarts > before.restarts and p,
                         what="pm2 to restart the neuron")

        # code-only change: pull and restart, no reinstall
        newer = commit(upstream, {"app.py": "VERSION = 2\n"}, "code")
        done = run_updater(clone, pm2_env, pm2_binary, marker)
        assert done.returncode == 0, done.stderr
        assert git(clone, "rev-parse", "HEAD") == newer
        assert (clone / "app.py").read_text() == "VERSION = 2\n"
        assert marker.read_text() == "reinstalled\n"  # not run again
        latest = wait_for(lambda: (p := pm2.get(NAME)) and p.online and p.restarts > after.restarts and p,
                          what="the second restart")

        # nothing new: nothing happens
        done = run_updater(clone, pm2_env, pm2_binary, marker)
        assert done.returncode == 0 and "up-to-date" in done.stdout
        assert pm2.get(NAME).restarts == latest.restarts
    finally:
        pm2.run("delete", NAME)


def test_a_diverged_checkout_is_refused(repos, tmp_path, pm2_env, pm2_binary):
    upstream, clone = repos
    local = commit(clone, {"app.py": "VERSION = 'local'\n"}, "local change")
    commit(upstream, {"app.py": "VERSION = 2\n"}, "upstream change")
    done = run_updater(clone, pm2_env, pm2_binary, tmp_path / "marker")
    assert done.returncode == 1
    assert "diverged" in done.stdout
    assert git(clone, "rev-parse", "HEAD") == local
    assert not (tmp_path / "marker").exists()


def test_uncommitted_edits_block_the_fast_forward(repos):
    upstream, clone = repos
    (clone / "app.py").write_text("VERSION = 'edited'\n")
    old = git(clone, "rev-parse", "HEAD")
    commit(upstream, {"app.py": "VERSION = 2\n"}, "upstream change")
    result = update_once(clone, pm2=None)
    assert result.status == "blocked" and not result.ok
    assert git(clone, "rev-parse", "HEAD") == old
    assert (clone / "app.py").read_text() == "VERSION = 'edited'\n"


def test_a_failed_reinstall_keeps_the_old_processes(repos):
    upstream, clone = repos
    commit(upstream, {"constraints.txt": "torch==2.13.0\n"}, "pin")
    result = update_once(clone, reinstall_command=[sys.executable, "-c", "raise SystemExit(4)"], pm2=None)
    assert result.status == "reinstall-failed" and "exit code 4" in result.message
    assert result.restarted == []


def test_which_changes_need_a_reinstall():
    assert needs_reinstall(["pyproject.toml"])
    assert needs_reinstall(["docs/x.md", "constraints.txt"])
    assert not needs_reinstall(["flock_subnet/rules/scoring.py", "docs/pyproject.toml"])
    assert not needs_reinstall([])
