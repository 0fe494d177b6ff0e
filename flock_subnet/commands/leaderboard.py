"""`flock-subnet leaderboard serve|export`: the leaderboard as live web pages or as a static site.

Both read the chain through the standard chain flags (the local chain, a local subtensor or
mainnet alike) and, with `--validator.workdir`, a validator's state for losses, win rates and
history. On the local chain the pages also show validator takes and own stakes, which the
`Chain` port does not carry.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from flock_subnet.config import (
    Settings,
    add_chain_args,
    add_hub_args,
    add_logging_args,
    add_netuid_arg,
    settings_from_args,
)

DEFAULT_PORT = 8096


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard", help="the leaderboard as web pages: serve it live or export a static site"
    )
    sub = parser.add_subparsers(title="leaderboard commands", metavar="ACTION", required=True)

    serve = sub.add_parser("serve", help="serve the leaderboard over HTTP, refreshed every block")
    _common(serve)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for everyone)")
    serve.add_argument("--refresh", type=float, default=12.0,
                       help="seconds between two reads of the chain (default 12, one block)")
    serve.set_defaults(handler=_serve)

    export = sub.add_parser("export", help="write the leaderboard as a static site (index.html, one page per miner, ...)")
    _common(export)
    export.add_argument("--out", type=Path, required=True, help="folder to write the site into (created if missing)")
    export.set_defaults(handler=_export)


def _common(parser: argparse.ArgumentParser) -> None:
    add_netuid_arg(parser)
    add_chain_args(parser)
    add_hub_args(parser)
    add_logging_args(parser)
    group = parser.add_argument_group("leaderboard")
    group.add_argument("--validator.workdir", dest="validator_workdir", default=None,
                       help="a validator's workdir (or its state.db) for losses, win rates and history")
    group.add_argument("--max-rounds", type=int, default=None, help="rounds of history per competition (default 120)")


def chain_label(settings: Settings) -> str:
    if settings.chain.is_local_chain:
        return f"local chain {settings.chain.local_chain_file}"
    return settings.chain.chain_endpoint or f"subtensor network {settings.chain.network}"


def build_source(args: argparse.Namespace) -> Any:
    """The chain, the state location and the hub from the flags -> a `BoardSource`."""
    from flock_subnet.commands.wiring import open_chain
    from flock_subnet.leaderboard.gather import BoardSource
    from flock_subnet.leaderboard.sources import DEFAULT_MAX_ROUNDS, ChainExtras

    settings = settings_from_args(args)
    chain = open_chain(settings.chain)
    netuid = settings.netuid
    if settings.chain.is_local_chain:
        from flock_subnet.kit.demo.board import local_chain_extras

        extras: Any = functools.partial(local_chain_extras, netuid=netuid)
    else:
        extras = ChainExtras()
    return BoardSource(
        chain=chain, netuid=netuid, hub_url=settings.hub.endpoint, chain_label=chain_label(settings),
        state_location=args.validator_workdir, extras=extras, max_rounds=args.max_rounds or DEFAULT_MAX_ROUNDS,
    )


def _export(args: argparse.Namespace) -> int:
    from flock_subnet.leaderboard.export import export_site

    source = build_source(args)
    try:
        board = source.gather()
    finally:
        source.chain.close()
    index = export_site(board, args.out)
    for note in board.warnings:
        print(f"note: {note.message}")
    print(index)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from flock_subnet.leaderboard.server import BoardCache, make_server

    source = build_source(args)
    cache = BoardCache(source.gather, refresh_s=args.refresh)
    server = make_server(cache, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"leaderboard at http://{host}:{port}/ (subnet {source.netuid}, {source.chain_label}); Ctrl-C stops it", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        source.chain.close()
    return 0
