"""A heartbeat file that a neuron touches from its main loop, so a watchdog can tell alive from hung.

A process can be alive for pm2 (it has a pid) and still be useless: stuck on a socket, a lock,
or a CUDA call. The neuron loops call `Heartbeat.beat()` once per iteration; the watchdog
(`flock_subnet.ops.watchdog`) restarts the pm2 process whose heartbeat is older than a limit.

The file holds a small JSON record (pid, time, count, optional status) and is replaced
atomically, so a reader never sees half a record. pm2 passes the path in `FLOCK_HEARTBEAT`;
without it `Heartbeat.from_env()` returns a heartbeat that does nothing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

ENV_VAR = "FLOCK_HEARTBEAT"


class Heartbeat:
    """`Heartbeat(path).beat()` records that this process is making progress."""

    def __init__(self, path: str | os.PathLike[str] | None, min_interval_s: float = 0.0) -> None:
        self.path = Path(path).expanduser() if path else None
        self.min_interval_s = float(min_interval_s)
        self.beats = 0
        self._last = 0.0

    @classmethod
    def from_env(cls, min_interval_s: float = 1.0) -> "Heartbeat":
        """The heartbeat pm2 asked for (`FLOCK_HEARTBEAT`), or a disabled one."""
        return cls(os.environ.get(ENV_VAR) or None, min_interval_s=min_interval_s)

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def beat(self, status: str | None = None, **info: Any) -> None:
        """Write the record now (at most once per `min_interval_s`); never raises."""
        if self.path is None:
            return
        now = time.time()
        if self.beats and now - self._last < self.min_interval_s and status is None and not info:
            return
        self.beats += 1
        self._last = now
        record: dict[str, Any] = {"pid": os.getpid(), "time": now, "beats": self.beats}
        if status is not None:
            record["status"] = status
        record.update(info)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record, default=str))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a full disk must not stop the neuron; the watchdog will notice the silence


def read_heartbeat(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The last record written to `path`, or None if there is none (or it is unreadable)."""
    try:
        record = json.loads(Path(path).expanduser().read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("time"), (int, float)) else None


def heartbeat_age_s(path: str | os.PathLike[str], now: float | None = None) -> float | None:
    """Seconds since the last beat written to `path`; None if it never beat."""
    record = read_heartbeat(path)
    if record is None:
        return None
    return max(0.0, (time.time() if now is None else now) - float(record["time"]))
