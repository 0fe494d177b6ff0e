"""Present a demo run: leaderboard, payouts, emissions plot, JSON, and a W&B summary run.

Pure bookkeeping over what `demo.run_demo` returns; the only I/O is writing the PNG, the JSON
file and the W&B run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from flock_subnet.chain.base import RAO_PER_TAO
from flock_subnet.kit.demo.run import DemoRun

VALIDATOR_KINDS = ("validator_take", "dividend", "root_dividend")
MAINNET_YOUNG_ROOT_PROPORTION = (0.3, 0.6)  # docs: a young subnet's root proportion on mainnet


def _ref(run: DemoRun, hotkey: str) -> str | None:
    from flock_subnet.rules import protocol

    record = run.commitments.get(hotkey)
    if record is None:
        return None
    try:
        return protocol.decode(record.data).short
    except protocol.ProtocolError:
        return f"malformed: {record.data[:24]!r}"


def _final_round(run: DemoRun) -> dict[str, Any]:
    """validator name -> its last round report that ran."""
    last: dict[str, Any] = {}
    for epoch in run.epochs:
        for name, report in epoch.rounds.items():
            if report.ran:
                last[name] = report
    return last


def assumptions(history: list[Any]) -> dict[str, Any]:
    """The dynamic-TAO terms the run's epochs were paid under (root proportion, TAO weight, alpha
    price) and what happened to the root share, so the payouts can be read against mainnet."""
    proportions = [float(getattr(r, "root_proportion", 0.0)) for r in history] or [0.0]
    prices = [float(getattr(r, "alpha_price", 1.0)) for r in history] or [1.0]
    weights = {float(getattr(r, "tao_weight", 0.0)) for r in history} or {0.0}
    root_paid = sum(int(p.amount) for r in history for p in r.payouts if p.kind == "root_dividend")
    if max(proportions) == 0:
        root_share = "none (tao_weight 0 or no root stake)"
    elif root_paid:
        root_share = "paid to root stakers as root dividends they claim as TAO"
    else:
        root_share = "recycled: no TAO staked on root on this chain"
    return {
        "root_proportion": {"min": min(proportions), "max": max(proportions)},
        "tao_weight": max(weights),
        "alpha_price_tao": {"min": min(prices), "max": max(prices)},
        "pool": "none: 1 TAO stakes 1 alpha" if min(prices) == max(prices) == 1.0 else "constant-product alpha pool",
        "root_share": root_share,
        "root_dividends_rao": root_paid,
        "mainnet_young_subnet_root_proportion": list(MAINNET_YOUNG_ROOT_PROPORTION),
    }


def build_results(run: DemoRun) -> dict[str, Any]:
    """The demo's outcome as plain data (the `--json` shape)."""
    actors_by_hotkey = {a.wallet.hotkey.ss58_address: a for a in run.actors if a.role != "delegator"}
    validator_uids = {a.uid for a in run.actors if a.role == "validator"}
    last_rounds = _final_round(run)
    first_validator = next((a.name for a in run.actors if a.role == "validator"), None)
    emission_total: dict[int, int] = {}
    for epoch in run.epochs:
        for uid, amount in epoch.emission_by_uid.items():
            emission_total[uid] = emission_total.get(uid, 0) + int(amount)

    neurons = []
    for n in run.metagraph.neurons:
        actor = actors_by_hotkey.get(n.hotkey)
        role = actor.role if actor else "miner"
        kind = actor.kind if actor else "unknown"
        loss = win_rate = None
        report = last_rounds.get(first_validator) if first_validator else None
        if report is not None and n.uid in report.uids:
            u = report.uids[n.uid]
            loss = u.loss if u.loss is not None and math.isfinite(u.loss) else None
            win_rate = u.win_rate
        entry: dict[str, Any] = {
            "uid": n.uid,
            "name": actor.name if actor else None,
            "hotkey": n.hotkey,
            "role": role,
            "kind": kind,
            "ref": _ref(run, n.hotkey),
            "eval_loss": loss,
            "win_rate": win_rate,
            "weights_from": {str(v): float(row.get(n.uid, 0.0)) for v, row in sorted(run.weights.items()) if v in validator_uids},
            "incentive": float(n.incentive),
            "dividends": float(n.dividends),
            "emission_rao": emission_total.get(n.uid, 0),
            "stake_rao": int(n.stake),
        }
        if actor is not None and actor.kind == "honest":
            entry["training_steps"] = actor.train_steps
        if actor is not None and actor.role == "validator":
            entry["take"] = run.takes.get(n.hotkey)
            entry["own_stake_rao"] = actor.stake_rao  # staked by the validator's coldkey at the start
        neurons.append(entry)

    validators_by_name = {a.name: a for a in run.actors if a.role == "validator"}
    delegators = []
    for a in run.actors:
        if a.role != "delegator":
            continue
        validator = validators_by_name[a.stake_on]  # type: ignore[index]
        payout = sum(
            record.earned(a.wallet.coldkeypub.ss58_address, validator.wallet.hotkey.ss58_address) for record in run.history
        )
        delegators.append(
            {
                "name": a.name,
                "coldkey": a.wallet.coldkeypub.ss58_address,
                "validator_uid": validator.uid,
                "stake_rao": a.stake_rao,
                "payout_rao": int(payout),
            }
        )

    delegator_coldkeys = {d["coldkey"] for d in delegators}
    owner_coldkey = run.actors[0].wallet.coldkeypub.ss58_address
    # minted: the growth of the chain's total issuance over the competition (an independent
    # count); credited: the sum of every payout by recipient class. They must agree.
    totals = {"minted_rao": run.issuance_end - run.issuance_start, "emitted_rao": 0, "owner_cut_rao": 0,
              "miners_rao": 0, "validators_rao": 0, "delegators_rao": 0, "recycled_rao": 0, "credited_rao": 0}
    for record in run.history:
        totals["emitted_rao"] += int(record.emission)
        totals["recycled_rao"] += int(record.recycled)
        for p in record.payouts:
            amount = int(p.amount)
            if p.kind == "owner_cut":
                totals["owner_cut_rao"] += amount
            elif p.kind == "incentive":
                totals["miners_rao"] += amount
            elif p.coldkey in delegator_coldkeys:
                totals["delegators_rao"] += amount
            elif p.coldkey == owner_coldkey and p.kind not in VALIDATOR_KINDS:
                totals["owner_cut_rao"] += amount
            else:
                totals["validators_rao"] += amount
    totals["credited_rao"] = (
        totals["owner_cut_rao"] + totals["miners_rao"] + totals["validators_rao"] + totals["delegators_rao"]
    )
    return {
        "netuid": run.metagraph.netuid,
        "block": run.metagraph.block,
        "epochs": len(run.epochs),
        "seconds": round(run.seconds, 1),
        "neurons": neurons,
        "delegators": delegators,
        "totals": totals,
        "assumptions": assumptions(list(run.history)),
        "emissions_by_epoch": [
            {"epoch": e.index, "block": e.block, "emission_rao": {str(uid): int(v) for uid, v in e.emission_by_uid.items()}}
            for e in run.epochs
        ],
    }


def _tao(rao: int | float) -> str:
    return f"{rao / RAO_PER_TAO:,.4f}"


def render(results: dict[str, Any], console: Any) -> None:
    """Print the leaderboard and the payouts as rich tables."""
    from rich.table import Table

    board = Table(title=f"Leaderboard after {results['epochs']} epochs (block {results['block']})")
    for column in ("uid", "name", "role", "kind", "model ref", "eval loss", "win rate", "weight", "incentive",
                   "dividends", "emission (α)"):
        board.add_column(column, justify="right" if column in ("uid", "eval loss", "win rate", "weight", "incentive",
                                                               "dividends", "emission (α)") else "left")
    for n in sorted(results["neurons"], key=lambda n: (-n["incentive"], -n["dividends"], n["uid"])):
        weights = n["weights_from"].values()
        weight = sum(weights) / len(weights) if weights else 0.0
        board.add_row(
            str(n["uid"]), n["name"] or "-", n["role"], n["kind"] + (f" ({n['training_steps']} steps)" if n.get("training_steps") else ""),
            n["ref"] or "-", "-" if n["eval_loss"] is None else f"{n['eval_loss']:.4f}",
            "-" if n["win_rate"] is None else f"{n['win_rate']:.2f}", f"{weight:.3f}", f"{n['incentive']:.3f}",
            f"{n['dividends']:.3f}", _tao(n["emission_rao"]),
        )
    console.print(board)

    payouts = Table(title="Payouts over the whole run (α, credited to stake)")
    payouts.add_column("who")
    payouts.add_column("what")
    payouts.add_column("amount (α)", justify="right")
    t = results["totals"]
    payouts.add_row("subnet owner", "owner cut", _tao(t["owner_cut_rao"]))
    for n in results["neurons"]:
        if n["role"] == "miner":
            payouts.add_row(f"{n['name']} (uid {n['uid']})", f"miner incentive [{n['kind']}]", _tao(n["emission_rao"]))
    for n in results["neurons"]:
        if n["role"] == "validator":
            own = n["emission_rao"] - sum(d["payout_rao"] for d in results["delegators"] if d["validator_uid"] == n["uid"])
            payouts.add_row(f"{n['name']} (uid {n['uid']})", "dividends kept: take + own stake's share", _tao(own))
    for d in results["delegators"]:
        share = d["payout_rao"] / d["stake_rao"] if d["stake_rao"] else 0.0
        payouts.add_row(
            f"{d['name']}", f"staked {_tao(d['stake_rao'])} on uid {d['validator_uid']} (return {share:.4%})", _tao(d["payout_rao"])
        )
    payouts.caption = (
        f"minted {_tao(t['minted_rao'])} = credited {_tao(t['credited_rao'])} "
        f"(owner {_tao(t['owner_cut_rao'])} + miners {_tao(t['miners_rao'])} + validators {_tao(t['validators_rao'])} "
        f"+ delegators {_tao(t['delegators_rao'])}); recycled {_tao(t['recycled_rao'])}"
    )
    console.print(payouts)
    console.print(_assumption_text(results.get("assumptions") or assumptions([])))


def _assumption_text(a: dict[str, Any]) -> str:
    """The payouts' assumptions in one paragraph, with how mainnet differs."""
    low, high = a["root_proportion"]["min"], a["root_proportion"]["max"]
    proportion = f"{low:.3f}" if low == high else f"{low:.3f}-{high:.3f}"
    price_low, price_high = a["alpha_price_tao"]["min"], a["alpha_price_tao"]["max"]
    price = f"{price_low:.4f}" if price_low == price_high else f"{price_low:.4f}-{price_high:.4f}"
    young_low, young_high = a["mainnet_young_subnet_root_proportion"]
    text = (
        f"Assumptions: root proportion {proportion} (tao_weight {a['tao_weight']:.3f}), alpha price {price} TAO "
        f"({a['pool']}); root share: {a['root_share']}."
    )
    if high < young_low:
        text += (
            f" On mainnet a young subnet's root proportion is about {young_low}-{young_high}: its validators' "
            f"alpha dividends would be {1 / (1 - young_low):.1f}-{1 / (1 - young_high):.1f}x lower than shown."
        )
    return text


def plot_emissions(results: dict[str, Any], path: Path) -> Path:
    """A PNG of where emissions went, epoch by epoch (stacked by neuron)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [e["epoch"] + 1 for e in results["emissions_by_epoch"]]
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    bottom = [0.0] * len(epochs)
    for n in sorted(results["neurons"], key=lambda n: n["uid"]):
        values = [e["emission_rao"].get(str(n["uid"]), 0) / RAO_PER_TAO for e in results["emissions_by_epoch"]]
        if not any(values):
            continue
        label = f"uid {n['uid']} {n['name'] or ''} ({n['kind']})"
        ax.bar(epochs, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xlabel("epoch")
    ax.set_ylabel("emission (α)")
    ax.set_title("flock_subnet demo: emission per epoch by neuron")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_json(results: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def log_to_wandb(results: dict[str, Any], settings: Any, plot: Path | None) -> str | None:
    """One summary run of the demo (offline unless a key is set); returns its folder."""
    from flock_subnet.telemetry import start_wandb_run

    run = start_wandb_run(settings, name="demo-summary", job_type="demo", config={"epochs": results["epochs"]})
    if not run.active:
        return None
    for e in results["emissions_by_epoch"]:
        run.log({f"emission/uid{uid}": v / RAO_PER_TAO for uid, v in e["emission_rao"].items()}, step=e["epoch"])
    summary = {f"incentive/uid{n['uid']}": n["incentive"] for n in results["neurons"]}
    summary.update({f"totals/{k}": v for k, v in results["totals"].items()})
    run.summary(summary)
    if plot is not None:
        try:
            import wandb

            run.log({"emissions": wandb.Image(str(plot))})
        except Exception:  # an image is a nicety; the numbers are already logged
            pass
    directory = run.directory
    run.finish()
    return directory
