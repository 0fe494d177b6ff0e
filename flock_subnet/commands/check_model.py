"""`flock-subnet check-model DIR`: run a validator's admission checks on a local checkpoint folder.

Miners run it before publishing; it applies exactly the checks a validator applies after
downloading. The exit status is 0 whether or not the model would be admitted (read `ok`);
only usage errors (unknown competition, missing base model) exit non-zero.
"""

from __future__ import annotations

import argparse
import json

from flock_subnet.config import DEFAULT_CACHE_DIR, add_hub_args, resolve_cache_dir, settings_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check-model",
        help="check a checkpoint folder the way validators admit it (no code is run)",
        description=(
            "Check a checkpoint folder against a competition's admission rules: allowed files only, "
            "safetensors headers, architecture, parameter count, dtypes, finite values, base tokenizer, "
            "and the hotkey-salted hash. Nothing in the folder is executed or unpickled."
        ),
    )
    parser.add_argument("model_dir", metavar="DIR", help="the folder written by save_pretrained")
    parser.add_argument("--competition", required=True, help="competition id (see `flock-subnet competitions`)")
    parser.add_argument("--hotkey", required=True, help="the miner hotkey (SS58) the salted hash binds to")
    parser.add_argument("--salted-hash", default=None, help="64-hex salted hash to verify (as committed on chain)")
    parser.add_argument(
        "--cache-dir",
        default=None,
        help=f"where the base model is built or downloaded (env FLOCK_CACHE_DIR, default {DEFAULT_CACHE_DIR})",
    )
    parser.add_argument("--json", action="store_true", help="print only a JSON report on stdout")
    add_hub_args(parser)
    parser.set_defaults(handler=_check_model)


def _cache_dir(args: argparse.Namespace) -> str:
    return str(resolve_cache_dir(args.cache_dir))


def _hub_for_base(args: argparse.Namespace, competition):
    """A hub client only when the base model must be downloaded (non-tiny competitions)."""
    if competition.base.tiny is not None:
        return None
    from flock_subnet.hub.huggingface import HuggingFaceHub

    settings = settings_from_args(args)
    return HuggingFaceHub(settings.hub.endpoint, settings.hub.token)


def _check_model(args: argparse.Namespace) -> int:
    from flock_subnet.evaluation.admission import check_model_dir, load_reference_files
    from flock_subnet.rules.competitions import get_competition

    competition = get_competition(args.competition)
    reference = load_reference_files(competition, _cache_dir(args), _hub_for_base(args, competition))
    report = check_model_dir(
        args.model_dir, competition, args.hotkey, args.salted_hash, reference_files=reference
    )
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    verdict = "[bold green]admitted[/]" if report.ok else "[bold red]refused[/]"
    table = Table(title=f"{args.model_dir} for competition {competition.id}: {verdict}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("content hash", report.content_hash or "-")
    table.add_row("parameters", f"{report.parameters:,}" if report.parameters is not None else "-")
    table.add_row("max parameters", f"{competition.max_parameters:,}")
    if report.content_hash is not None:
        from flock_subnet.models.checkpoint import salted_hash

        table.add_row("salted hash (to commit)", salted_hash(report.content_hash, args.hotkey))
    console.print(table)
    for reason in report.reasons:
        console.print(f"  - {reason}", highlight=False, markup=False)
    return 0
