"""A stand-in neuron for the pm2 tests: beats its heartbeat, and crashes or hangs when told to.

The control file (`$FLOCK_TEST_CONTROL`) holds one word: `run`, `crash` or `hang`. `crash` and
`hang` are consumed (the file is set back to `run`), so the restarted process runs normally.
Every start appends its pid to `$FLOCK_TEST_STARTS`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from flock_subnet.ops.heartbeat import Heartbeat


def main() -> int:
    control = Path(os.environ["FLOCK_TEST_CONTROL"])
    with Path(os.environ["FLOCK_TEST_STARTS"]).open("a") as starts:
        starts.write(f"{os.getpid()}\n")
    heartbeat = Heartbeat.from_env(min_interval_s=0)
    while True:
        mode = control.read_text().strip() if control.exists() else "run"
        if mode == "crash":
            control.write_text("run")
            print("crashing on request", flush=True)
            return 3
        if mode == "hang":
            control.write_text("run")
            print("hanging on request", flush=True)
            while True:
                time.sleep(3600)
        heartbeat.beat(status="running")
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
