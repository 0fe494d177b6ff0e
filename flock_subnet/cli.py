"""The `flock-subnet` command: one entry point, one module per command group.

Each module in `flock_subnet/commands/` exposes `register(subparsers)`, which adds its
sub-commands and sets `handler` on them. Modules keep heavy imports (torch, transformers,
bittensor) inside their handlers so `flock-subnet --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from flock_subnet import __version__
from flock_subnet.errors import FlockError

# Order is the order of `--help`.
COMMAND_MODULES = (
    "flock_subnet.commands.demo",
    "flock_subnet.commands.miner",
    "flock_subnet.commands.validator",
    "flock_subnet.commands.leaderboard",
    "flock_subnet.commands.evaluate",
    "flock_subnet.commands.check_model",
    "flock_subnet.commands.competitions",
    "flock_subnet.commands.data",
    "flock_subnet.commands.model",
    "flock_subnet.commands.hub",
    "flock_subnet.commands.serve",
    "flock_subnet.commands.localnet",
    "flock_subnet.commands.yuma",
    "flock_subnet.commands.protocol",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flock-subnet",
        description="Fine-tune, publish, validate and reward small language models on a Bittensor subnet.",
    )
    parser.add_argument("--version", action="version", version=f"flock-subnet {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a command group not present in this build
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    from flock_subnet.telemetry import setup_logging

    setup_logging(
        debug=getattr(args, "logging_debug", False),
        trace=getattr(args, "logging_trace", False),
        logging_dir=getattr(args, "logging_dir", None),
    )
    try:
        result = handler(args)
    except FlockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
