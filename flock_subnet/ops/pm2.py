"""A small, typed wrapper around the `pm2` command line (list, start, restart, stop, kill).

Everything goes through `pm2 <verb>` subprocesses with a timeout, so it works with any pm2
install (global, `npx`, or a project-local `node_modules/.bin/pm2`) and honours `PM2_HOME`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flock_subnet.errors import FlockError

ENV_VAR = "FLOCK_PM2"


class Pm2Error(FlockError):
    """pm2 is missing or refused a command; the message carries pm2's own output."""


@dataclass(frozen=True)
class Pm2Process:
    """One process as `pm2 jlist` reports it."""

    name: str
    pm_id: int
    pid: int
    status: str  # online, stopped, errored, launching, stopping, ...
    restarts: int
    started_at: float  # unix seconds of the last (re)start
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def online(self) -> bool:
        return self.status == "online"


def find_pm2(explicit: str | None = None) -> str:
    """The pm2 executable: `explicit`, else `$FLOCK_PM2`, else `pm2` on PATH."""
    candidate = explicit or os.environ.get(ENV_VAR) or "pm2"
    resolved = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
    if resolved is None:
        raise Pm2Error(
            f"pm2 not found ({candidate!r}); install it with `npm install -g pm2` or pass its path with --pm2"
        )
    return resolved


def _parse_process(item: Mapping[str, Any]) -> Pm2Process:
    env = item.get("pm2_env") or {}
    merged = {k: str(v) for k, v in (env.get("env") or {}).items() if isinstance(v, (str, int, float))}
    for key, value in env.items():  # pm2 also lifts the app's env vars to the top of pm2_env
        if key.isupper() and isinstance(value, (str, int, float)):
            merged.setdefault(key, str(value))
    return Pm2Process(
        name=str(item.get("name") or env.get("name")),
        pm_id=int(item.get("pm_id", env.get("pm_id", -1))),
        pid=int(item.get("pid") or 0),
        status=str(env.get("status", "unknown")),
        restarts=int(env.get("restart_time", 0) or 0),
        started_at=float(env.get("pm_uptime", 0) or 0) / 1000.0,
        env=merged,
    )


class Pm2:
    """`Pm2(binary, env).restart("flock-validator")` and friends."""

    def __init__(self, binary: str | None = None, env: Mapping[str, str] | None = None, timeout_s: float = 60.0):
        self.binary = find_pm2(binary)
        self.env = dict(os.environ if env is None else env)
        self.timeout_s = timeout_s

    def run(self, *args: str) -> str:
        """Run `pm2 *args`; its stdout, or `Pm2Error` with what pm2 said."""
        try:
            done = subprocess.run(
                [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=self.timeout_s
            )
        except subprocess.TimeoutExpired:
            raise Pm2Error(f"`pm2 {' '.join(args)}` did not finish within {self.timeout_s:g}s") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip()[-2000:]
            raise Pm2Error(f"`pm2 {' '.join(args)}` failed with exit code {done.returncode}: {detail}")
        return done.stdout

    def list(self) -> list[Pm2Process]:
        out = self.run("jlist")
        start = out.find("[")  # a freshly spawned daemon may print a banner first
        if start < 0:
            raise Pm2Error(f"`pm2 jlist` printed no process list: {out[-500:]!r}")
        return [_parse_process(item) for item in json.loads(out[start:])]

    def get(self, name: str) -> Pm2Process | None:
        for process in self.list():
            if process.name == name:
                return process
        return None

    def start(self, ecosystem: str | os.PathLike[str], only: Sequence[str] = ()) -> None:
        args = ["start", str(ecosystem)]
        if only:
            args += ["--only", ",".join(only)]
        self.run(*args)

    def restart(self, name: str) -> None:
        self.run("restart", name)

    def stop(self, name: str) -> None:
        self.run("stop", name)

    def delete(self, name: str) -> None:
        self.run("delete", name)

    def kill(self) -> None:
        self.run("kill")
