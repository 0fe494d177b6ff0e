#!/usr/bin/env python3
"""Follow the upstream branch: fast-forward, reinstall when dependencies changed, restart the neurons.

    .venv/bin/python scripts/auto_update.py                 # every 15 minutes, forever (run it under pm2)
    .venv/bin/python scripts/auto_update.py --once          # one check; exit 1 if the update was refused

Diverged checkouts and uncommitted edits are never touched: the update is refused and logged.
After a successful update the updater re-executes itself, so it too runs the new code.
See flock_subnet/ops/auto_update.py for the steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flock_subnet.ops.auto_update import DEFAULT_PM2_NAMES, UpdateError, update_once  # noqa: E402
from flock_subnet.ops.pm2 import Pm2, Pm2Error  # noqa: E402
from flock_subnet.telemetry import setup_logging  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", default=str(ROOT), help="the checkout to update (default: this one)")
    p.add_argument("--remote", default=os.environ.get("FLOCK_UPDATE_REMOTE", "origin"))
    p.add_argument("--branch", default=os.environ.get("FLOCK_UPDATE_BRANCH"), help="default: the current branch")
    p.add_argument("--interval", type=float, default=float(os.environ.get("FLOCK_UPDATE_INTERVAL", 900)),
                   help="seconds between checks (default 900)")
    p.add_argument("--once", action="store_true", help="check once and exit")
    p.add_argument("--reinstall-cmd", default=os.environ.get("FLOCK_REINSTALL_CMD"),
                   help="command run when pyproject.toml/constraints.txt changed "
                        "(default: .venv/bin/python -m pip install -q -c constraints.txt -e .)")
    p.add_argument("--pm2", default=None, help="pm2 executable (default: $FLOCK_PM2 or pm2 on PATH)")
    p.add_argument("--pm2-names", default=os.environ.get("FLOCK_PM2_NAMES", ",".join(DEFAULT_PM2_NAMES)),
                   help="comma-separated pm2 processes to restart after an update")
    p.add_argument("--no-restart", action="store_true", help="update and reinstall, but restart nothing")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> int:
    pm2 = None
    if not args.no_restart:
        try:
            pm2 = Pm2(args.pm2)
        except Pm2Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    names = [n for n in args.pm2_names.split(",") if n]
    try:
        result = update_once(args.repo, args.remote, args.branch, args.reinstall_cmd, pm2, names)
    except (UpdateError, Pm2Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"[auto-update] {result.status}: {result.message}", flush=True)
    if result.status == "updated":
        return 10  # tells the loop to re-execute itself on the new code
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    if args.once:
        code = check(args)
        return 0 if code == 10 else code
    while True:
        if check(args) == 10:
            os.execv(sys.executable, [sys.executable, *sys.argv])
        time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
