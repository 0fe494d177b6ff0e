"""`flock-subnet demo`: the embedded default, a whole competition on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a whole competition locally: chain, hub, miners, validators, payouts (no network, no keys)",
        description=(
            "Start the local chain and a local Hugging Face-compatible hub in a work folder, then run an owner, "
            "validators with delegators, and miners (honest ones with different training budgets, one submitting "
            "the untrained base, one copying the best model) through several epochs. Prints the leaderboard and "
            "the payouts and writes emissions.png, the leaderboard site (leaderboard/index.html) and --json in the work folder."
        ),
    )
    parser.add_argument("--workdir", type=Path, default=Path(".flock/demo"), help="work folder (default .flock/demo)")
    parser.add_argument("--miners", type=int, default=4, help="number of miners, at least 4 (default 4)")
    parser.add_argument("--validators", type=int, default=2, help="number of validators (default 2)")
    parser.add_argument("--epochs", type=int, default=8, help="chain epochs to run (default 8)")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--strong-steps", type=int, default=None, help="training steps of the best honest miner")
    parser.add_argument("--weak-steps", type=int, default=None, help="training steps of the weaker honest miners")
    parser.add_argument("--eval-samples", type=int, default=None, help="hidden samples per model per round")
    parser.add_argument("--no-wandb", action="store_true", help="do not write W&B runs")
    parser.add_argument("--commit-reveal", action="store_true",
                        help="run the subnet with commit-reveal weights, as mainnet does (revealed an epoch later)")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    import dataclasses
    import sys

    from rich.console import Console

    from flock_subnet.config import WandbSettings
    from flock_subnet.kit.demo.board import export_demo_leaderboard
    from flock_subnet.kit.demo.report import build_results, log_to_wandb, plot_emissions, render, write_json
    from flock_subnet.kit.demo.run import DemoConfig, run_demo

    # tables need room: keep them readable when the output is piped to a file or a CI log
    console = Console(width=None if sys.stdout.isatty() else 150)
    config = DemoConfig(workdir=args.workdir, miners=args.miners, validators=args.validators, epochs=args.epochs,
                        wandb=not args.no_wandb, commit_reveal=args.commit_reveal)
    overrides = {k: v for k, v in (("strong_steps", args.strong_steps), ("weak_steps", args.weak_steps),
                                   ("eval_samples", args.eval_samples)) if v is not None}
    config = dataclasses.replace(config, **overrides)

    with console.status("starting the demo") as status:
        def progress(message: str) -> None:
            status.update(message)
            console.log(message)

        run = run_demo(config, progress=progress)
    results = build_results(run)
    render(results, console)
    plot = plot_emissions(results, Path(config.workdir) / "emissions.png")
    console.print(f"emissions over time: {plot}")
    if args.json_path:
        console.print(f"results as JSON: {write_json(results, args.json_path)}")
    console.print(f"leaderboard: {export_demo_leaderboard(run)}")
    if config.wandb:
        settings = WandbSettings(project="flock-subnet-demo", directory=str(Path(config.workdir).resolve()))
        folder = log_to_wandb(results, settings, plot)
        if folder:
            console.print(f"W&B run ({settings.mode}): {folder}")
    console.print(f"done in {run.seconds:.0f} s")
    return 0
