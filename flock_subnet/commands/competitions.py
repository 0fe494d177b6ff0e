"""`flock-subnet competitions [--json]` lists the competitions; `competitions validate FILE` checks one file.

Operator competitions come from `--competitions-file PATH` (a file or folder, repeatable) or
`FLOCK_COMPETITIONS`; the built-in ones ship with the package (`flock_subnet/rules/builtin/`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from flock_subnet.config import add_competition_files_arg, competition_files


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("competitions", help="list the competitions and their rules, or validate a file")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    add_competition_files_arg(parser)
    parser.set_defaults(handler=_list)
    sub = parser.add_subparsers(title="competitions commands", metavar="ACTION")
    validate = sub.add_parser("validate", help="check a competition file (TOML, JSON or YAML) against the schema")
    validate.add_argument("file", metavar="FILE", help="the competition file")
    validate.add_argument("--json", action="store_true", help="print JSON only")
    validate.set_defaults(handler=_validate)


def describe(competition: Any) -> dict[str, Any]:
    from flock_subnet.rules.data.generators import families

    base = competition.base
    declared = competition.data_digest
    return {
        "id": competition.id,
        "description": competition.description,
        "production": competition.production,
        "base": {"repo_id": base.repo_id, "revision": base.revision, "tiny": base.tiny},
        "architectures": list(competition.architectures),
        "max_parameters": competition.max_parameters,
        "max_bytes": competition.max_bytes,
        "sequence_length": competition.sequence_length,
        "tasks": dict(competition.tasks),
        "task_configs": {name: dict(config) for name, config in competition.task_configs.items()},
        "families": families(list(competition.tasks)),
        "samples_per_round": competition.samples_per_round,
        "round_length_blocks": competition.round_length_blocks,
        "eval_delay_blocks": competition.eval_delay_blocks,
        "epsilon": {
            "start": competition.epsilon_start,
            "end": competition.epsilon_end,
            "decay_blocks": competition.epsilon_decay_blocks,
        },
        "reward_share": competition.reward_share,
        "weighting": competition.weighting,
        "ema_alpha": competition.ema_alpha,
        "max_held_rounds": competition.max_held_rounds,
        "schedule": {"start_block": competition.start_block, "end_block": competition.end_block},
        "digest": None if declared is None else {"seed": declared.seed, "n": declared.n, "sha256": declared.sha256},
        "accuracy": {"samples": competition.accuracy_samples, "at_least_base": competition.require_accuracy_at_least_base},
        "private_pool": competition.public_pool,
    }


def _validate(args: argparse.Namespace) -> int:
    from flock_subnet.rules.competitions import CompetitionFileError
    from flock_subnet.tasks.catalog import load_competition_file

    try:
        competition = load_competition_file(args.file)
    except CompetitionFileError as exc:
        if args.json:
            print(json.dumps({"file": args.file, "valid": False, "error": str(exc)}))
            return 1
        raise
    if args.json:
        print(json.dumps({"file": args.file, "valid": True, "competition": describe(competition)}))
    else:
        print(f"{args.file}: valid competition {competition.id!r} ({len(competition.tasks)} tasks)")
    return 0


def _schedule(row: dict[str, Any]) -> str:
    start, end = row["schedule"]["start_block"], row["schedule"]["end_block"]
    if start is None and end is None:
        return "always"
    return f"blocks {start or 0} .. {'open' if end is None else end}"


def _declared_digest(row: dict[str, Any]) -> str:
    digest = row["digest"]
    return f"{digest['sha256'][:19]}... (seed {digest['seed']}, n {digest['n']})" if digest else "-"


def _list(args: argparse.Namespace) -> int:
    from flock_subnet.rules.competitions import COMPETITIONS
    from flock_subnet.tasks.catalog import load_operator_competitions

    load_operator_competitions(competition_files(args))
    rows = [describe(c) for c in COMPETITIONS.values()]
    if args.json:
        print(json.dumps(rows))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="competitions")
    table.add_column("")
    for row in rows:
        table.add_column(row["id"])
    lines = {
        "base": lambda r: f"tiny preset {r['base']['tiny']}" if r["base"]["tiny"] else f"{r['base']['repo_id']}@{r['base']['revision'][:12]}",
        "architectures": lambda r: ", ".join(r["architectures"]),
        "max parameters": lambda r: f"{r['max_parameters']:,}",
        "max size": lambda r: f"{r['max_bytes'] / 2**20:,.0f} MiB",
        "sequence length": lambda r: str(r["sequence_length"]),
        "tasks (weight)": lambda r: ", ".join(f"{name} {weight:g}" for name, weight in r["tasks"].items()),
        "families": lambda r: ", ".join(f"{family} ({len(names)})" for family, names in r["families"].items()) or "-",
        "samples per round": lambda r: str(r["samples_per_round"]),
        "round length": lambda r: f"{r['round_length_blocks']} blocks",
        "eval delay": lambda r: f"{r['eval_delay_blocks']} blocks",
        "epsilon": lambda r: f"{r['epsilon']['start']:g} -> {r['epsilon']['end']:g} over {r['epsilon']['decay_blocks']} blocks",
        "reward share": lambda r: f"{r['reward_share']:g} ({r['weighting']}, EMA {r['ema_alpha']:g})",
        "schedule": _schedule,
        "declared digest": _declared_digest,
    }
    for label, render in lines.items():
        table.add_row(label, *(render(row) for row in rows))
    Console().print(table)
    return 0
