"""`flock-subnet model tiny OUTDIR`: write a tiny Llama checkpoint built locally (no download)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="build local model checkpoints")
    sub = parser.add_subparsers(title="model commands", metavar="ACTION", required=True)

    tiny = sub.add_parser("tiny", help="write a tiny Llama model with the kit tokenizer (byte-identical per preset and seed)")
    tiny.add_argument("outdir", help="folder to write the checkpoint into (created if missing)")
    tiny.add_argument("--preset", default="small", help="micro (~1M parameters) or small (~5M, the 'local' base)")
    tiny.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0, the 'local' base)")
    tiny.add_argument("--json", action="store_true", help="print JSON only")
    tiny.set_defaults(handler=_tiny)


def _tiny(args: argparse.Namespace) -> int:
    from flock_subnet.models.checkpoint import content_hash
    from flock_subnet.models.tiny import TINY_PRESETS, ModelKitError, build_tiny_model, count_parameters

    if args.preset not in TINY_PRESETS:
        raise ModelKitError(f"unknown preset {args.preset!r}; choose one of {', '.join(sorted(TINY_PRESETS))}")
    folder = build_tiny_model(args.outdir, preset=args.preset, seed=args.seed)
    info = {
        "path": str(folder.resolve()),
        "preset": args.preset,
        "seed": args.seed,
        "parameters": count_parameters(args.preset),
        "content_hash": content_hash(folder),
        "files": sorted(p.name for p in folder.iterdir() if p.is_file()),
    }
    if args.json:
        print(json.dumps(info))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"tiny model ({args.preset})", show_header=False)
    for key in ("path", "preset", "seed", "parameters", "content_hash"):
        table.add_row(key, f"{info[key]:,}" if key == "parameters" else str(info[key]))
    table.add_row("files", ", ".join(info["files"]))
    Console().print(table)
    return 0
