"""`flock-subnet validator run|status`: run the validator loop, or summarise its state file.

`run` takes the usual neuron flags (`--netuid`, `--wallet.*`, `--subtensor.*`, `--hub.*`,
`--wandb.*`, `--logging.*`) plus the validator's own (`--workdir`, `--competitions`,
`--max-rounds`, ...). `neurons/validator.py` accepts exactly the same flags.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from flock_subnet.config import (
    Settings,
    add_competition_files_arg,
    add_neuron_args,
    competition_files,
    eval_pool_settings,
    export_competition_files,
    settings_from_args,
)

DEFAULT_WORKDIR = "~/.flock/validator"


def add_validator_args(parser: argparse.ArgumentParser) -> None:
    """The validator's own flags (on top of `config.add_neuron_args`)."""
    group = parser.add_argument_group("validator")
    group.add_argument(
        "--workdir",
        default=None,
        help=f"state file and downloaded models (env FLOCK_VALIDATOR_DIR; default {DEFAULT_WORKDIR}/<netuid>/<wallet>-<hotkey>)",
    )
    group.add_argument(
        "--competitions", default=None, help="comma-separated competition ids to score (default: the production competitions; every one on the local chain)"
    )
    group.add_argument("--max-rounds", type=int, default=None, help="stop after this many rounds (default: run forever)")
    group.add_argument("--poll-interval", type=float, default=None, help="seconds between block polls (default 12)")
    group.add_argument("--eval-timeout", type=float, default=None, help="seconds one model's evaluation may take (default 900)")
    group.add_argument(
        "--eval-samples", type=int, default=None,
        help="hidden samples per model (default: the competition's; every validator must use the same)",
    )
    group.add_argument("--memory-limit-mb", type=int, default=None, help="memory cap of the evaluation worker")
    group.add_argument(
        "--eval-devices", default=None, metavar="LIST",
        help="comma-separated devices to evaluate on, one warm worker each, e.g. cuda:0,cuda:1 or cpu "
        "(env FLOCK_EVAL_DEVICES; default: every visible GPU, else one worker)",
    )
    group.add_argument(
        "--eval-workers", type=int, default=None, metavar="N",
        help="number of warm evaluation workers, spread over the devices (env FLOCK_EVAL_WORKERS; default one per device)",
    )
    group.add_argument("--retry-base", type=float, default=None, help="first backoff delay in seconds for hub/chain retries")
    group.add_argument("--cache-dir", default=None, help="where base models are built or downloaded (default <workdir>/base)")
    group.add_argument("--no-set-weights", action="store_true", help="score and log, but never set weights")
    group.add_argument("--keep-models", action="store_true", help="keep downloaded models no commitment refers to")
    add_competition_files_arg(group)


def workdir_for(args: argparse.Namespace, settings: Settings) -> Path:
    explicit = getattr(args, "workdir", None) or os.environ.get("FLOCK_VALIDATOR_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return Path(DEFAULT_WORKDIR).expanduser() / str(settings.netuid) / f"{settings.wallet.name}-{settings.wallet.hotkey}"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validator", help="run a validator, or show its state")
    sub = parser.add_subparsers(title="validator commands", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="score miners' models every round and set weights")
    add_neuron_args(run)
    add_validator_args(run)
    run.set_defaults(handler=run_validator)

    status = sub.add_parser("status", help="rounds, scores, last weights and faults from the state file")
    status.add_argument("--netuid", type=int, default=None, help="subnet uid (for the default workdir)")
    status.add_argument("--wallet.name", dest="wallet_name", default=None)
    status.add_argument("--wallet.hotkey", dest="wallet_hotkey", default=None)
    status.add_argument("--workdir", default=None, help="the validator's workdir (as given to `validator run`)")
    status.add_argument("--json", action="store_true", help="print JSON only")
    status.set_defaults(handler=_status)


def build_validator(args: argparse.Namespace) -> Any:
    """Chain, hub, wallet and settings from the flags -> a ready `Validator`."""
    from flock_subnet.chain.wallets import load_wallet
    from flock_subnet.commands.wiring import open_chain
    from flock_subnet.hub.huggingface import HuggingFaceHub
    from flock_subnet.rules.competitions import default_competitions, get_competition
    from flock_subnet.validator.faults import Backoff
    from flock_subnet.validator.service import Validator, ValidatorConfig

    from flock_subnet.tasks.catalog import load_operator_competitions
    from flock_subnet.validator.data_check import require_matching_data

    settings = settings_from_args(args)
    load_operator_competitions(competition_files(args))
    export_competition_files(competition_files(args))  # the evaluation workers read the same files
    pool = eval_pool_settings(args)
    ids = [c.strip() for c in (args.competitions or "").split(",") if c.strip()]
    competitions = [get_competition(c) for c in ids] if ids else default_competitions(settings.chain.is_local_chain)
    require_matching_data(competitions)  # refuses, saying why, when this machine's hidden data differ
    defaults = ValidatorConfig()
    base = args.retry_base
    config = ValidatorConfig(
        eval_timeout_s=args.eval_timeout or defaults.eval_timeout_s,
        memory_limit_mb=args.memory_limit_mb,
        eval_samples=args.eval_samples,
        poll_interval_s=args.poll_interval if args.poll_interval is not None else defaults.poll_interval_s,
        chain_backoff=defaults.chain_backoff if base is None else Backoff(defaults.chain_backoff.attempts, base, 60.0),
        hub_backoff=defaults.hub_backoff if base is None else Backoff(defaults.hub_backoff.attempts, base, 120.0),
        eval_backoff=defaults.eval_backoff if base is None else Backoff(defaults.eval_backoff.attempts, base, 60.0),
        set_weights=not args.no_set_weights,
        keep_models=args.keep_models,
        cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else None,
        eval_devices=pool.devices,
        eval_workers=pool.workers,
    )
    wallet = load_wallet(settings.wallet)
    chain = open_chain(settings.chain)
    hub = HuggingFaceHub(settings.hub.endpoint, settings.hub.token)
    return Validator(
        chain, hub, wallet, settings.netuid, competitions, workdir_for(args, settings),
        wandb_settings=settings.wandb, config=config,
    )


def run_validator(args: argparse.Namespace) -> int:
    """Run the loop until SIGINT/SIGTERM or `--max-rounds`."""
    import signal
    import threading

    validator = build_validator(args)
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    try:
        validator.run(stop_event=stop, max_rounds=args.max_rounds)
    finally:
        validator.chain.close()
    return 0


def _status(args: argparse.Namespace) -> int:
    from flock_subnet.validator.state import StateError, ValidatorState

    settings = settings_from_args(args)
    path = workdir_for(args, settings) / "state.db"
    if not path.is_file():
        raise StateError(f"no validator state at {path}; pass --workdir (the folder given to `validator run`)")
    with ValidatorState(path) as state:
        summary = state.summary()
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    _print_status(summary)
    return 0


def _print_status(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    latest = summary["latest_round"]
    console.print(f"[bold]validator state[/bold] {summary['path']} (schema {summary['schema_version']})")
    if latest:
        console.print(
            f"latest round: {latest['competition']} block {latest['round_block']} ({latest['status']}), seed {latest['seed']}"
        )
    else:
        console.print("no round has run yet")
    last = summary["last_weights"]
    if last:
        console.print(f"last weights set at block {last['block']} (round {last['round_block']}, version {last['version_key']})")
    else:
        console.print("weights never set")
    weights = Table()
    weights.add_column("uid", justify="right")
    weights.add_column("weight", justify="right")
    for competition, ema in summary["ema"].items():
        weights.add_column(f"EMA {competition}", justify="right")
    uids = sorted(
        {int(u) for u in (last or {}).get("weights", {})} | {int(u) for ema in summary["ema"].values() for u in ema}
    )
    for uid in uids:
        row = [str(uid), f"{(last or {}).get('weights', {}).get(str(uid), 0.0):.4f}"]
        row += [f"{ema.get(str(uid), 0.0):.4f}" for ema in summary["ema"].values()]
        weights.add_row(*row)
    console.print(weights)
    counters = ", ".join(f"{k} {v}" for k, v in summary["counters"].items()) or "none"
    console.print(f"evaluations cached: {summary['evaluations_cached']}; counters: {counters}")
    for sub in summary.get("weight_submissions", [])[:5]:
        console.print(
            f"  weights {sub['state']} at block {sub['block']} (round {sub['round_block']})"
            + (f": {sub['reason']}" if sub["reason"] else "")
        )
    for competition, held in summary.get("held_rounds", {}).items():
        listed = ", ".join(f"uid {uid} {n} round(s)" for uid, n in held.items())
        console.print(f"  held in a row ({competition}): {listed}")
    for fault in summary["recent_faults"]:
        console.print(f"  {fault['kind']} fault, uid {fault['uid']}, round {fault['round_block']}: {fault['reason']}")
