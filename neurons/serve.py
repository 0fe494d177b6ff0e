"""Serving entry point for pm2 or a plain `python neurons/serve.py --competition ID ...`.

Takes the same flags as `flock-subnet serve`; see `flock-subnet serve --help`.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from flock_subnet.commands.serve import add_serve_args, run_serve
    from flock_subnet.errors import FlockError
    from flock_subnet.telemetry import setup_logging

    parser = argparse.ArgumentParser(description="flock-subnet serve: the competition's model behind an OpenAI-compatible API.")
    add_serve_args(parser)
    args = parser.parse_args(argv)
    setup_logging(debug=args.logging_debug, trace=args.logging_trace, logging_dir=args.logging_dir)
    try:
        return run_serve(args)
    except FlockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
