"""`flock-subnet serve`: the subnet's model behind an OpenAI-compatible HTTP API.

`--model DIR` serves a local checkpoint. `--competition ID` serves the competition's current
winner from the chain (highest incentive; ties to the earlier commit, then the lower uid),
downloaded through the validators' admission checks, re-checks the chain every
`--recheck-blocks` blocks and swaps to a new winner without dropping requests in flight.
`neurons/serve.py` takes the same flags (for pm2).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from flock_subnet.config import (
    add_chain_args,
    add_hub_args,
    add_logging_args,
    add_netuid_arg,
)

API_KEY_ENV = "FLOCK_SERVE_API_KEY"


def add_serve_args(parser: argparse.ArgumentParser) -> None:
    """The serve command's flags, including the chain, hub and logging groups."""
    source = parser.add_argument_group("what to serve (one of)")
    which = source.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="DIR", help="a local checkpoint folder (save_pretrained output)")
    which.add_argument("--competition", metavar="ID", help="serve this competition's current winner from the chain")
    source.add_argument("--served-model-name", default=None, help="model id for --model (default: the folder's name)")
    http = parser.add_argument_group("http")
    http.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    http.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    http.add_argument("--api-key", default=None, help=f"require 'Authorization: Bearer KEY' (env {API_KEY_ENV})")
    http.add_argument("--drain-timeout", type=float, default=20.0,
                      help="seconds to finish requests in flight when stopping (default 20)")
    http.add_argument("--max-request-bytes", type=int, default=1 << 20, help="largest request body (default 1 MiB)")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=("transformers", "vllm"), default="transformers",
                        help="transformers (continuous batching, CPU or GPU) or vllm (GPU, vllm installed)")
    engine.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    engine.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    engine.add_argument("--max-batch", type=int, default=16, help="sequences generated together (default 16)")
    engine.add_argument("--max-waiting", type=int, default=64,
                        help="requests queued behind a full batch before answering 429 (default 64)")
    engine.add_argument("--max-prefill-tokens", type=int, default=8192,
                        help="prompt tokens computed in one prefill step (default 8192)")
    follow = parser.add_argument_group("following the chain (--competition)")
    follow.add_argument("--recheck-blocks", type=int, default=100, help="re-check the winner every N blocks (default 100)")
    follow.add_argument("--poll-interval", type=float, default=12.0, help="seconds between block polls (default 12)")
    follow.add_argument("--top", type=int, default=3, help="candidates to try when the best is refused (default 3)")
    follow.add_argument("--cache-dir", default=None, help="downloads and base models (env FLOCK_CACHE_DIR)")
    add_netuid_arg(parser)
    add_chain_args(parser)
    add_hub_args(parser)
    add_logging_args(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a model (or a competition's winner) behind an OpenAI-compatible API",
        description="Serve a checkpoint, or a competition's current winner, at /v1/chat/completions and /v1/models.",
    )
    add_serve_args(parser)
    parser.set_defaults(handler=run_serve)


def _options(args: argparse.Namespace) -> Any:
    from flock_subnet.serve.factory import EngineKind, EngineOptions
    from flock_subnet.serve.generation import EngineLimits

    limits = EngineLimits(args.max_batch, args.max_waiting, args.max_prefill_tokens)
    return EngineOptions(EngineKind(args.engine), None if args.device == "auto" else args.device, limits)


def _competition_slot(args: argparse.Namespace, options: Any) -> tuple[Any, Any]:
    """(slot, watcher) following the competition's winner on the chain from the flags."""
    from flock_subnet.commands.wiring import open_chain
    from flock_subnet.config import resolve_cache_dir, settings_from_args
    from flock_subnet.hub.huggingface import HuggingFaceHub
    from flock_subnet.rules.competitions import get_competition
    from flock_subnet.serve.factory import build_served
    from flock_subnet.serve.slot import ModelSlot
    from flock_subnet.serve.watcher import WinnerWatcher
    from flock_subnet.serve.winner import WinnerFinder

    settings = settings_from_args(args)
    competition = get_competition(args.competition)
    hub = HuggingFaceHub(settings.hub.endpoint, settings.hub.token)
    finder = WinnerFinder(hub, competition, resolve_cache_dir(args.cache_dir), top=args.top)

    def load(winner: Any) -> Any:
        c = winner.candidate
        details = {"competition": competition.id, "uid": c.uid, "hotkey": c.hotkey, "repo_id": c.reference.repo_id,
                   "revision": c.reference.revision, "commit_block": c.commit_block, "incentive": c.incentive}
        return build_served(winner.folder, c.model_id, options, competition=competition, base_folder=winner.base_folder,
                            aliases=(competition.id,), details=details)

    slot = ModelSlot(waiting_reason=f"looking for the winner of competition {competition.id!r} on the chain")
    watcher = WinnerWatcher(open_chain(settings.chain), settings.netuid, finder, slot, load,
                            recheck_blocks=args.recheck_blocks, poll_s=args.poll_interval)
    return slot, watcher


def run_serve(args: argparse.Namespace) -> int:
    from loguru import logger

    from flock_subnet.serve.factory import build_served, folder_model_id
    from flock_subnet.serve.generation import ServeError
    from flock_subnet.serve.server import ServeApp, ServerConfig, make_server
    from flock_subnet.serve.slot import ModelSlot

    log = logger.bind(component="serve")
    if args.threads is not None:
        if args.threads < 1:
            raise ServeError("--threads must be at least 1")
        import torch

        torch.set_num_threads(args.threads)
    options = _options(args)
    watcher = None
    if args.model:
        name = args.served_model_name or folder_model_id(args.model)
        slot = ModelSlot(build_served(args.model, name, options))
    else:
        slot, watcher = _competition_slot(args, options)
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    config = ServerConfig(api_key=api_key, max_request_bytes=args.max_request_bytes)
    status = (lambda: watcher.status.body()) if watcher is not None else None
    app = ServeApp(slot, config, status)
    try:
        server = make_server(app, args.host, args.port)
    except Exception:
        slot.close()
        raise
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    if watcher is not None:
        watcher.start()
    print(f"listening on {server.url}", flush=True)
    log.info("serving at {}/v1 ({}{})", server.url, args.engine, ", API key required" if api_key else "")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping: finishing the requests in flight (up to {:g} s)", args.drain_timeout)
        if watcher is not None:
            watcher.stop()
        server.shutdown()
        if not (slot.drain(args.drain_timeout) and app.wait_idle(5.0)):
            log.warning("some requests were still running after {:g} s; they are cut off", args.drain_timeout)
        server.stop()
        slot.close()
    print("stopped", file=sys.stderr, flush=True)
    return 0
