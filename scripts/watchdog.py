#!/usr/bin/env python3
"""Restart pm2 neurons whose heartbeat went silent (hung, not crashed: pm2 handles crashes itself).

    .venv/bin/python scripts/watchdog.py --limit 1800 --interval 30    # forever (run it under pm2)
    .venv/bin/python scripts/watchdog.py --limit 1800 --once --json    # one check, report as JSON

Every pm2 process with a FLOCK_HEARTBEAT variable is watched (the ecosystem file sets it for the
validator and the miner). See flock_subnet/ops/watchdog.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flock_subnet.ops import watchdog  # noqa: E402
from flock_subnet.ops.pm2 import Pm2, Pm2Error  # noqa: E402
from flock_subnet.telemetry import setup_logging  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=float, default=float(os.environ.get("FLOCK_WATCHDOG_LIMIT", 1800)),
                   help="seconds without a heartbeat before a restart (default 1800)")
    p.add_argument("--interval", type=float, default=float(os.environ.get("FLOCK_WATCHDOG_INTERVAL", 30)),
                   help="seconds between checks (default 30)")
    p.add_argument("--only", default="", help="comma-separated pm2 names to watch (default: all with a heartbeat)")
    p.add_argument("--pm2", default=None, help="pm2 executable (default: $FLOCK_PM2 or pm2 on PATH)")
    p.add_argument("--once", action="store_true", help="check once and exit")
    p.add_argument("--json", action="store_true", help="with --once: print the decisions as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    only = [n for n in args.only.split(",") if n]
    try:
        pm2 = Pm2(args.pm2)
        if args.once:
            decisions = watchdog.check_once(pm2, args.limit, only)
            if args.json:
                print(json.dumps([dataclasses.asdict(d) for d in decisions]))
            else:
                for d in decisions:
                    print(f"{d.name}: {d.action} ({d.reason})")
            return 0
        watchdog.run(pm2, args.limit, args.interval, only)
    except Pm2Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
