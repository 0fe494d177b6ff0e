"""Validator entry point for pm2 or a plain `python neurons/validator.py --netuid ... --wallet.name ...`.

Takes the same flags as `flock-subnet validator run`; see `flock-subnet validator run --help`.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from flock_subnet.commands.validator import add_validator_args, run_validator
    from flock_subnet.config import add_neuron_args
    from flock_subnet.errors import FlockError
    from flock_subnet.telemetry import setup_logging

    parser = argparse.ArgumentParser(description="flock-subnet validator: score miners' models and set weights.")
    add_neuron_args(parser)
    add_validator_args(parser)
    args = parser.parse_args(argv)
    setup_logging(debug=args.logging_debug, trace=args.logging_trace, logging_dir=args.logging_dir)
    try:
        return run_validator(args)
    except FlockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
