"""`flock-subnet eval DIR --competition ID [--seed N | --block B]`: score a checkpoint as validators do.

The samples are the hidden round of `--seed`, or of the round seed of block `--block` read from
the chain chosen by the chain flags (a local chain file or a subtensor node). `--sandbox`
evaluates in a separate worker process exactly as validators do; the loss is the same either
way. `--json` prints only JSON on stdout: the `EvalResult` fields plus `competition`, `seed`,
`block` and `model_dir`, and `accuracy` (greedy exact match, with `accuracy_per_task`) on
`--accuracy-samples` of the round's samples (default the competition's; chosen by the round's
digest, as validators choose them; a `--sandbox` run uses the competition's number); on failure
`{"error", "fault"}` with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from flock_subnet.config import add_chain_args, add_competition_files_arg, competition_files, export_competition_files


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a checkpoint's loss on a round's hidden samples")
    parser.add_argument("model_dir", metavar="DIR", help="checkpoint folder (save_pretrained layout, safetensors)")
    parser.add_argument("--competition", default="local", help="competition id (default local)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seed", type=int, default=None, help="round seed (default 0)")
    which.add_argument("--block", type=int, default=None, help="use the round seed of this block's hash on the chain")
    parser.add_argument("--samples", type=int, default=None, help="number of hidden samples (default: the competition's)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--sandbox", action="store_true", help="evaluate in a separate worker process, as validators do")
    parser.add_argument("--timeout", type=float, default=600.0, help="sandbox timeout in seconds (default 600)")
    parser.add_argument("--memory-limit-mb", type=int, default=None, help="sandbox address-space cap in MiB")
    parser.add_argument("--tokenizer-dir", default=None, help="base model folder with the tokenizer (hub-based competitions)")
    parser.add_argument(
        "--accuracy-samples", type=int, default=None,
        help="greedy exact-match accuracy on this many of the round's samples (default: the competition's; 0: off)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    add_chain_args(parser)
    add_competition_files_arg(parser)
    parser.set_defaults(handler=_evaluate)


def _seed_of(args: argparse.Namespace) -> tuple[int, int | None]:
    if args.block is None:
        return (0 if args.seed is None else args.seed), None
    from flock_subnet.commands.wiring import open_chain
    from flock_subnet.config import settings_from_args
    from flock_subnet.rules.data import round_seed

    with open_chain(settings_from_args(args).chain) as chain:
        return round_seed(chain.block_hash(args.block)), args.block


def _evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flock_subnet.evaluation.errors import EvaluationError
    from flock_subnet.rules.competitions import get_competition
    from flock_subnet.tasks.catalog import load_operator_competitions

    load_operator_competitions(competition_files(args))
    export_competition_files(competition_files(args))  # a sandbox worker reads the same files
    competition = get_competition(args.competition)
    seed, block = _seed_of(args)
    try:
        if args.sandbox:
            from flock_subnet.evaluation.sandbox import evaluate_in_sandbox

            result = evaluate_in_sandbox(
                args.model_dir, competition.id, seed, timeout_s=args.timeout,
                memory_limit_mb=args.memory_limit_mb, device=args.device, samples=args.samples,
                tokenizer_dir=args.tokenizer_dir,
            )
        else:
            from flock_subnet.evaluation.loss import evaluate_loss
            from flock_subnet.evaluation.samples import round_samples

            samples = round_samples(competition, seed, n=args.samples)
            result = evaluate_loss(
                args.model_dir, samples, competition, device=args.device, tokenizer_dir=args.tokenizer_dir,
                accuracy_samples=args.accuracy_samples,
            )
    except EvaluationError as exc:
        if not args.json:
            raise
        print(json.dumps({"error": str(exc), "fault": exc.fault}))
        return 1
    info = {**result.to_dict(), "competition": competition.id, "seed": seed, "block": block,
            "model_dir": str(Path(args.model_dir).resolve())}
    if result.accuracy is None:
        for key in ("accuracy", "accuracy_per_task", "accuracy_samples", "accuracy_seconds", "generated_tokens"):
            info.pop(key)
    if args.json:
        print(json.dumps(info))
        return 0
    _print_table(info)
    return 0


def _print_table(info: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"evaluation on {info['competition']} (seed {info['seed']})", show_header=False)
    table.add_row("loss (token mean)", f"{info['loss']:.6f}")
    table.add_row("loss (sample mean)", f"{info['sample_loss']:.6f}")
    for task, loss in info["per_task"].items():
        table.add_row(f"  {task}", f"{loss:.6f}")
    if "accuracy" in info:
        table.add_row(f"accuracy ({info['accuracy_samples']} samples)", f"{info['accuracy']:.3f}")
        for task, value in info["accuracy_per_task"].items():
            table.add_row(f"  {task}", f"{value:.3f}")
    table.add_row("samples", str(info["samples"]))
    table.add_row("tokens (answer)", f"{info['tokens']} ({info['answer_tokens']})")
    table.add_row("tokens/s", f"{info['tokens_per_s']:,.0f}")
    table.add_row("seconds (load)", f"{info['seconds']:.2f} ({info['load_seconds']:.2f})")
    table.add_row("device", f"{info['device']} {info['dtype']}")
    Console(file=sys.stdout).print(table)
