"""Restart pm2 processes whose heartbeat went silent (a hung validator or miner).

Every pm2 process started with a `FLOCK_HEARTBEAT` variable (the ecosystem file sets one per
neuron) whose heartbeat file exists is watched; a process that never beat at all is left alone
(its loop is not instrumented). A watched process counts as hung when it is `online` for pm2
but its last sign of life, the later of its last beat and its last (re)start, is older than the
limit; the watchdog then runs `pm2 restart <name>`. Measuring from the restart gives a fresh
process the whole limit to reach its first beat, so a slow start is never restarted in a loop,
while one that hangs before its first beat is still caught.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from loguru import logger

from flock_subnet.ops.heartbeat import ENV_VAR, read_heartbeat
from flock_subnet.ops.pm2 import Pm2, Pm2Error, Pm2Process

log = logger.bind(component="watchdog")


@dataclass(frozen=True)
class WatchDecision:
    name: str
    action: str  # "ok", "restart", "skip"
    silent_s: float | None  # seconds since the last sign of life
    reason: str


def silence_s(last_beat: float | None, started_at: float, now: float) -> float:
    """Seconds since the process last showed life: its last beat or its last (re)start."""
    latest = max(last_beat or 0.0, started_at or 0.0)
    return max(0.0, now - latest)


def decide(process: Pm2Process, limit_s: float, now: float) -> WatchDecision:
    """Whether `process` should be restarted (pure apart from reading its heartbeat file)."""
    path = process.env.get(ENV_VAR)
    if not path:
        return WatchDecision(process.name, "skip", None, f"no {ENV_VAR} in its environment")
    if not process.online:
        return WatchDecision(process.name, "skip", None, f"pm2 status is {process.status}")
    record = read_heartbeat(path)
    if record is not None:
        beat = float(record["time"])  # a beat from before the last restart is older than it: harmless
    elif os.path.exists(path):
        beat = os.path.getmtime(path)  # unreadable record: the file's age still tells
    else:
        return WatchDecision(process.name, "skip", None, "it never wrote a heartbeat (its loop does not beat)")
    silent = silence_s(beat, process.started_at, now)
    if silent > limit_s:
        return WatchDecision(process.name, "restart", silent, f"no heartbeat for {silent:.0f}s (limit {limit_s:g}s)")
    return WatchDecision(process.name, "ok", silent, "beating")


def check_once(pm2: Pm2, limit_s: float, only: Sequence[str] = (), now: float | None = None) -> list[WatchDecision]:
    """Inspect every watched process once and restart the hung ones."""
    decisions = []
    for process in pm2.list():
        if only and process.name not in only:
            continue
        decision = decide(process, limit_s, time.time() if now is None else now)
        if decision.action == "restart":
            log.warning("{}: {}; restarting it", process.name, decision.reason)
            try:
                pm2.restart(process.name)
            except Pm2Error as exc:
                log.error("{}: restart failed: {}", process.name, exc)
                decision = WatchDecision(process.name, "skip", decision.silent_s, f"restart failed: {exc}")
        decisions.append(decision)
    return decisions


def run(pm2: Pm2, limit_s: float, interval_s: float, only: Sequence[str] = (), stop: threading.Event | None = None) -> None:
    """Check every `interval_s` seconds until `stop` is set; pm2 trouble is logged, never fatal."""
    stop = stop or threading.Event()
    log.info("watching {} every {:g}s (hung after {:g}s of silence)", ", ".join(only) or "all neurons", interval_s, limit_s)
    while not stop.is_set():
        try:
            check_once(pm2, limit_s, only)
        except Pm2Error as exc:
            log.error("pm2 is not answering: {}", exc)
        stop.wait(interval_s)
