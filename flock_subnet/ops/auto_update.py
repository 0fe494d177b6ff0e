"""Keep a neuron's checkout on the upstream branch: fetch, fast-forward, reinstall if needed, restart.

One `update_once` does, in order:
1. `git fetch <remote> <branch>`; nothing more if HEAD already equals the upstream commit.
2. Refuse (and log) when the checkout has diverged from upstream or has local commits: the
   updater only fast-forwards, it never merges, rebases or discards anything.
3. `git merge --ff-only`; refused as well when uncommitted edits would be overwritten.
4. Reinstall dependencies only when `pyproject.toml` or `constraints.txt` changed, with the
   torch pin of `constraints.txt` (`pip install -c constraints.txt -e .`), or a given command.
5. `pm2 restart` the neuron processes that exist, so they run the new code.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from flock_subnet.errors import FlockError
from flock_subnet.ops.pm2 import Pm2, Pm2Error

log = logger.bind(component="updater")

DEPENDENCY_FILES = ("pyproject.toml", "constraints.txt")
DEFAULT_PM2_NAMES = ("flock-validator", "flock-miner", "flock-watchdog")


class UpdateError(FlockError):
    """git could not be run in the checkout (not a repository, no such remote, ...)."""


@dataclass
class UpdateResult:
    status: str  # "up-to-date", "updated", "diverged", "blocked", "reinstall-failed"
    old: str
    new: str
    changed_files: list[str] = field(default_factory=list)
    reinstalled: bool = False
    restarted: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in {"up-to-date", "updated"}


def needs_reinstall(changed_files: Sequence[str]) -> bool:
    """Whether the changed paths touch the dependency declarations."""
    return any(name.strip("/") in DEPENDENCY_FILES for name in changed_files)


def default_reinstall_command(repo: Path) -> list[str]:
    """pip-install the checkout into its own virtual environment, holding torch at the pinned version."""
    venv_python = repo / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    return [python, "-m", "pip", "install", "-q", "-c", "constraints.txt", "-e", "."]


def _git(repo: Path, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UpdateError(f"`git {' '.join(args)}` did not finish within {timeout:g}s in {repo}") from None
    if check and done.returncode != 0:
        raise UpdateError(f"`git {' '.join(args)}` failed in {repo}: {(done.stderr or done.stdout).strip()}")
    return done


def current_branch(repo: Path) -> str:
    name = _git(repo, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    if name == "HEAD":
        raise UpdateError(f"{repo} is on a detached HEAD; check out the branch to follow (e.g. git checkout main)")
    return name


def update_once(
    repo: str | Path,
    remote: str = "origin",
    branch: str | None = None,
    reinstall_command: Sequence[str] | str | None = None,
    pm2: Pm2 | None = None,
    pm2_names: Sequence[str] = DEFAULT_PM2_NAMES,
) -> UpdateResult:
    """Bring `repo` to `remote/branch` if that is a fast-forward; see the module docstring."""
    repo = Path(repo).resolve()
    branch = branch or current_branch(repo)
    _git(repo, "fetch", "--quiet", remote, branch)
    old = _git(repo, "rev-parse", "HEAD").stdout.strip()
    upstream = _git(repo, "rev-parse", "FETCH_HEAD").stdout.strip()
    if old == upstream:
        return UpdateResult("up-to-date", old, old, message=f"already at {remote}/{branch} ({old[:10]})")
    if _git(repo, "merge-base", "--is-ancestor", old, upstream, check=False).returncode != 0:
        message = (
            f"refusing to update: {repo} has diverged from {remote}/{branch} "
            f"(local {old[:10]}, upstream {upstream[:10]}); move local commits to a branch, then "
            f"`git reset --hard {remote}/{branch}` by hand"
        )
        log.error(message)
        return UpdateResult("diverged", old, old, message=message)
    merged = _git(repo, "merge", "--ff-only", "--quiet", upstream, check=False)
    if merged.returncode != 0:
        message = f"refusing to update: fast-forward failed ({(merged.stderr or merged.stdout).strip()}); commit or stash local edits"
        log.error(message)
        return UpdateResult("blocked", old, old, message=message)
    new = _git(repo, "rev-parse", "HEAD").stdout.strip()
    changed = [line for line in _git(repo, "diff", "--name-only", old, new).stdout.splitlines() if line]
    result = UpdateResult("updated", old, new, changed_files=changed)
    log.info("updated {} -> {} ({} files changed)", old[:10], new[:10], len(changed))

    if needs_reinstall(changed):
        command = reinstall_command or default_reinstall_command(repo)
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        log.info("dependencies changed; running {}", shlex.join(argv))
        done = subprocess.run(argv, cwd=repo, capture_output=True, text=True)
        if done.returncode != 0:
            result.status = "reinstall-failed"
            result.message = f"reinstall failed with exit code {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}"
            log.error("{}; the neurons keep running the old code until the next attempt", result.message)
            return result
        result.reinstalled = True

    if pm2 is not None:
        try:
            present = {process.name for process in pm2.list()}
        except Pm2Error as exc:
            result.message = f"updated, but pm2 did not answer: {exc}"
            log.error(result.message)
            return result
        for name in pm2_names:
            if name in present:
                pm2.restart(name)
                result.restarted.append(name)
        log.info("restarted {}", ", ".join(result.restarted) or "nothing (no neuron runs under pm2)")
    result.message = result.message or f"updated to {new[:10]}"
    return result
