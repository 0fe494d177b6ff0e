"""`flock-subnet competitions [--json]`: the competitions, their base models, limits and rules."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("competitions", help="list the competitions and their rules")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.set_defaults(handler=_list)


def describe(competition: Any) -> dict[str, Any]:
    base = competition.base
    return {
        "id": competition.id,
        "description": competition.description,
        "base": {"repo_id": base.repo_id, "revision": base.revision, "tiny": base.tiny},
        "architectures": list(competition.architectures),
        "max_parameters": competition.max_parameters,
        "max_bytes": competition.max_bytes,
        "sequence_length": competition.sequence_length,
        "tasks": dict(competition.tasks),
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
        "private_pool": competition.public_pool,
    }


def _list(args: argparse.Namespace) -> int:
    from flock_subnet.rules.competitions import COMPETITIONS

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
        "samples per round": lambda r: str(r["samples_per_round"]),
        "round length": lambda r: f"{r['round_length_blocks']} blocks",
        "eval delay": lambda r: f"{r['eval_delay_blocks']} blocks",
        "epsilon": lambda r: f"{r['epsilon']['start']:g} -> {r['epsilon']['end']:g} over {r['epsilon']['decay_blocks']} blocks",
        "reward share": lambda r: f"{r['reward_share']:g} ({r['weighting']}, EMA {r['ema_alpha']:g})",
    }
    for label, render in lines.items():
        table.add_row(label, *(render(row) for row in rows))
    Console().print(table)
    return 0
