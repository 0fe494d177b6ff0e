"""`flock-subnet yuma replay|simulate`: run Yuma Consensus on test vectors or on a what-if subnet.

`replay FILE` runs every epoch of the vectors in FILE (subtensor's own tests, transcribed) and
prints the computed outputs (`--json`) or a summary checked against the vectors' expectations.
`simulate` plays several tempos of a subnet described by weights and stakes (JSON, or CSV
files) and shows per-uid incentive, dividends and emission and what every coldkey earned.
"""

from __future__ import annotations

import argparse
import json
import sys

_MODES = ("exact", "float")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("yuma", help="replay Yuma Consensus test vectors or simulate a subnet's payouts")
    sub = parser.add_subparsers(title="yuma commands", metavar="ACTION", required=True)

    rep = sub.add_parser("replay", help="run the epochs of a test-vector file and print the outputs")
    rep.add_argument("file", help="JSON list of vectors (format: Yuma reference, section 3)")
    rep.add_argument("--mode", choices=_MODES, default="exact", help="fixed-point emulation (default) or float64")
    rep.add_argument("--json", action="store_true", help="print [{id, steps: [{block, outputs}]}] as JSON only")
    rep.add_argument("--check", action="store_true", help="compare with each vector's expected values; exit 1 on a mismatch")
    rep.add_argument("--id", action="append", default=None, help="only the vector with this id (repeatable)")
    rep.add_argument(
        "--generator-form",
        choices=("auto", "full", "compact"),
        default="auto",
        help="generated networks: every epoch (full), each variant's final epoch (compact), or compact "
        "only above 256 uids (auto, default)",
    )
    rep.set_defaults(handler=_replay)

    sim = sub.add_parser(
        "simulate",
        help="what-if: incentive, dividends and payouts per uid and coldkey over several epochs",
        description=(
            "Inputs: a JSON file {neurons: [{uid, hotkey, owner, stake, delegators: {coldkey: alpha}, take}], "
            "weights: {validator_uid: {miner_uid: weight}}, owner_uid, hyperparameters: {...}} or CSV files "
            "--stakes (uid,coldkey,stake[,hotkey,owner,take]) and --weights (validator,miner,weight). "
            "Stakes are in alpha; amounts printed in alpha."
        ),
    )
    sim.add_argument("file", nargs="?", help="JSON input (or use --stakes and --weights)")
    sim.add_argument("--stakes", help="CSV: uid,coldkey,stake[,hotkey,owner,take] (one row per staker)")
    sim.add_argument("--weights", help="CSV: validator,miner,weight")
    sim.add_argument("--epochs", type=int, default=None, help="tempos to play (default: the file's, else 3)")
    sim.add_argument("--tempo", type=int, default=None, help="blocks per epoch (default: the file's, else 360)")
    sim.add_argument("--owner-uid", type=int, default=None, help="uid of the subnet owner's hotkey (its incentive is burned)")
    sim.add_argument("--alpha-per-block", type=float, default=None, help="alpha emitted per block (default 1.0)")
    sim.add_argument("--owner-cut", type=float, default=None, help="owner cut as a fraction (default 0.18)")
    sim.add_argument("--yuma3", dest="yuma3", action="store_true", default=None, help="Yuma3 bonds (new-subnet default)")
    sim.add_argument("--no-yuma3", dest="yuma3", action="store_false", help="legacy bond EMA")
    sim.add_argument("--liquid-alpha", action="store_true", default=None, help="per-entry liquid alpha for bonds")
    sim.add_argument("--mode", choices=_MODES, default="exact", help="fixed-point emulation (default) or float64")
    sim.add_argument("--json", action="store_true", help="print the full result as JSON only")
    sim.set_defaults(handler=_simulate)


def _replay(args: argparse.Namespace) -> int:
    from flock_subnet.rules.consensus.replay import COMPACT_ABOVE_N, load_vectors, replay_steps
    from flock_subnet.rules.consensus.vectors import check_step

    vectors = load_vectors(args.file)
    if args.id:
        vectors = [v for v in vectors if v.get("id") in set(args.id)]
    summary = []
    failed = False
    if args.json:
        sys.stdout.write("[")
    for index, vector in enumerate(vectors):
        compact = {"full": False, "compact": True}.get(args.generator_form)
        if compact is None:
            compact = "generator" in vector and int(vector["generator"].get("n", 0)) > COMPACT_ABOVE_N
        steps = []
        failures: list[str] = []
        checked = 0
        for step in replay_steps(vector, args.mode):
            outputs = step.result.to_dict()
            if step.final or not compact:
                steps.append({"block": step.block, "outputs": outputs})
            if args.check or not args.json:
                problems = check_step(outputs, step.expected, step.assertion, step.group)
                checked += len(step.expected)
                failures += [f"{step.label}: {p}" for p in problems]
        failed = failed or bool(failures)
        summary.append((str(vector.get("id")), _driver(vector), len(steps), checked, failures))
        if args.json:  # one vector at a time: big networks never sit in memory all at once
            record = {"id": vector.get("id"), "steps": steps}
            if args.check:
                record["failures"] = failures
            sys.stdout.write(("," if index else "") + json.dumps(record))
    if args.json:
        sys.stdout.write("]\n")
    else:
        _print_replay(summary, args.mode)
    return 1 if (args.check and failed) else 0


def _driver(vector) -> str:
    if vector.get("kind"):
        return str(vector["kind"])
    for name in ("steps", "generator", "schedule", "cases"):
        if name in vector:
            return name
    return "?"


def _print_replay(summary, mode: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Yuma replay ({mode} mode)")
    table.add_column("vector", overflow="fold")
    for column in ("driver", "epochs", "expected values", "result"):
        table.add_column(column)
    for vid, driver, epochs, checked, failures in summary:
        if epochs == 0:
            result = "[dim]no epochs[/dim]"
        elif failures:
            result = f"[red]{len(failures)} mismatches[/red]"
        else:
            result = "[green]match[/green]" if checked else "[dim]nothing asserted[/dim]"
        table.add_row(vid, driver, str(epochs), str(checked), result)
    console = Console()
    console.print(table)
    for vid, _, _, _, failures in summary:
        for failure in failures[:10]:
            console.print(f"[red]{vid}[/red] {failure}")


def _simulate(args: argparse.Namespace) -> int:
    from flock_subnet.rules.consensus.errors import ConsensusInputError
    from flock_subnet.rules.consensus.simulate import RAO, load_csv, load_json, run_simulation

    if args.file:
        sim = load_json(args.file)
    elif args.stakes and args.weights:
        sim = load_csv(args.stakes, args.weights)
    else:
        raise ConsensusInputError("give a JSON file, or both --stakes and --weights CSV files")
    changes = {}
    if args.tempo is not None:
        changes["tempo"] = args.tempo
    if args.owner_uid is not None:
        changes["owner_uid"] = args.owner_uid
        if 0 <= args.owner_uid < len(sim.neurons):
            sim.owner_hotkey = sim.neurons[args.owner_uid].hotkey
            sim.owner_coldkey = sim.neurons[args.owner_uid].owner
    if args.yuma3 is not None:
        changes["yuma3"] = args.yuma3
    if args.liquid_alpha:
        changes["liquid_alpha"] = True
    if changes:
        sim.params = sim.params.with_changes(**changes)
    if args.epochs is not None:
        sim.epochs = args.epochs
    if args.alpha_per_block is not None:
        sim.alpha_per_block_rao = int(round(args.alpha_per_block * RAO))
    if args.owner_cut is not None:
        sim.owner_cut_u16 = int(round(args.owner_cut * 65_535))
    result = run_simulation(sim, mode=args.mode)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_simulation(result)
    return 0


def _alpha(rao: int) -> str:
    return f"{rao / 1e9:,.6f}"


def _print_simulation(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not result["epochs"]:
        console.print("no epochs simulated")
        return
    last = result["epochs"][-1]
    per_uid: dict[int, list[int]] = {}
    for epoch in result["epochs"]:
        for row in epoch["uids"]:
            acc = per_uid.setdefault(row["uid"], [0, 0])
            acc[0] += row["server_emission_rao"]
            acc[1] += row["validator_emission_rao"]
    table = Table(title=f"Per uid after {len(result['epochs'])} epochs (block {last['block']}, {result['mode']} mode)")
    for column in ("uid", "hotkey", "stake", "permit", "consensus", "incentive", "dividends", "v-trust", "miner emission", "validator emission"):
        table.add_column(column, justify="right" if column not in ("hotkey", "permit") else "left")
    for row in last["uids"]:
        acc = per_uid[row["uid"]]
        table.add_row(
            str(row["uid"]),
            row["hotkey"],
            _alpha(row["stake_rao"]),
            "yes" if row["validator_permit"] else "",
            f"{row['consensus']:.6f}",
            f"{row['incentive']:.6f}",
            f"{row['dividends']:.6f}",
            f"{row['validator_trust']:.6f}",
            _alpha(acc[0]),
            _alpha(acc[1]),
        )
    console.print(table)
    payouts = Table(title="Earned per coldkey and hotkey (all epochs, alpha)")
    for column in ("coldkey", "hotkey", "kind", "amount"):
        payouts.add_column(column, justify="right" if column == "amount" else "left")
    for row in result["totals"]:
        payouts.add_row(row["coldkey"], row["hotkey"] or "-", row["kind"], _alpha(row["amount_rao"]))
    console.print(payouts)
    burned = sum(e["burned_rao"] for e in result["epochs"])
    recycled = sum(e["recycled_rao"] for e in result["epochs"])
    console.print(f"burned (owner hotkeys' incentive): {_alpha(burned)}   recycled: {_alpha(recycled)}")
