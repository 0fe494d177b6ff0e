"""What-if runs for subnet owners: weights and stakes in, incentive, dividends and payouts out.

A `Simulation` is a subnet frozen in time: who is registered, who stakes how much on whom,
and which weights validators set. `run_simulation` plays several tempos: each block's alpha is
split (owner cut, miners, validators), the epoch runs on the current stakes and weights, and
every payout is staked back (so stakes compound, as on chain). Inputs come from a JSON file or
two CSV files (see `load_json` and `load_csv`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flock_subnet.rules.consensus.emission import (
    DEFAULT_DELEGATE_TAKE_U16,
    DEFAULT_OWNER_CUT_U16,
    PendingEmission,
    SubnetAccounts,
    distribute_epoch,
    split_block_emission,
)
from flock_subnet.rules.consensus.errors import ConsensusInputError
from flock_subnet.rules.consensus.schema import EpochInput, EpochState, YumaParams
from flock_subnet.rules.consensus.yuma import run_epoch

RAO = 1_000_000_000
U16_MAX = 65_535


@dataclass
class SimNeuron:
    uid: int
    hotkey: str
    owner: str
    stakers: dict[str, int] = field(default_factory=dict)  # coldkey -> rao
    take_u16: int = DEFAULT_DELEGATE_TAKE_U16

    @property
    def stake(self) -> int:
        return sum(self.stakers.values())


@dataclass
class Simulation:
    neurons: list[SimNeuron]
    weights: dict[int, list[tuple[int, int]]]
    params: YumaParams = field(default_factory=YumaParams)
    epochs: int = 3
    alpha_per_block_rao: int = RAO
    owner_cut_u16: int = DEFAULT_OWNER_CUT_U16
    owner_coldkey: str | None = None
    owner_hotkey: str | None = None


def weights_to_u16(row: Mapping[int, float]) -> list[tuple[int, int]]:
    """Float weights of one validator -> u16 as the SDK submits them (max -> 65535), sorted by uid."""
    items = sorted((int(j), float(w)) for j, w in row.items())
    if any(w < 0 or w != w for _, w in items):
        raise ConsensusInputError("weights must be non-negative numbers")
    top = max((w for _, w in items), default=0.0)
    if top <= 0:
        return [(j, 0) for j, _ in items]
    return [(j, int(round(w / top * U16_MAX))) for j, w in items]


def _amount(value: Any) -> int:
    """Alpha amounts in files are in alpha (float); `"123rao"` or ints with `_rao` keys are rao."""
    if isinstance(value, str) and value.endswith("rao"):
        return int(value[:-3])
    amount = float(value)
    if amount < 0:
        raise ConsensusInputError(f"stake {value} is negative")
    return int(round(amount * RAO))


def _take(value: Any) -> int:
    """Take as a fraction (0.18) or as u16 (11796)."""
    v = float(value)
    return int(round(v * U16_MAX)) if v <= 1 else int(v)


def from_dict(data: Mapping[str, Any]) -> Simulation:
    """Build from the JSON form:

    {"neurons": [{"uid": 0, "hotkey": "v0", "owner": "ck0", "stake": 1000.0,
                  "delegators": {"alice": 250.0}, "take": 0.18}, ...],
     "weights": {"0": {"3": 1.0, "4": 0.5}, ...},
     "owner_uid": 0, "epochs": 3, "alpha_per_block": 1.0, "owner_cut": 0.18,
     "hyperparameters": {"tempo": 360, "kappa_u16": 32767, ...}}
    """
    neurons = []
    for k, item in enumerate(data.get("neurons", [])):
        uid = int(item.get("uid", k))
        hotkey = str(item.get("hotkey", f"hotkey-{uid}"))
        owner = str(item.get("owner", item.get("coldkey", f"coldkey-{uid}")))
        stakers = {owner: int(item["stake_rao"]) if "stake_rao" in item else _amount(item.get("stake", 0))}
        for coldkey, amount in (item.get("delegators") or {}).items():
            stakers[str(coldkey)] = stakers.get(str(coldkey), 0) + _amount(amount)
        take = _take(item["take"]) if "take" in item else DEFAULT_DELEGATE_TAKE_U16
        neurons.append(SimNeuron(uid=uid, hotkey=hotkey, owner=owner, stakers=stakers, take_u16=take))
    neurons.sort(key=lambda nrn: nrn.uid)
    if [nrn.uid for nrn in neurons] != list(range(len(neurons))):
        raise ConsensusInputError("neuron uids must be 0..n-1, each once")
    weights = {}
    for uid, row in (data.get("weights") or {}).items():
        if isinstance(row, Mapping):
            weights[int(uid)] = weights_to_u16(row)
        else:
            weights[int(uid)] = weights_to_u16({int(j): float(w) for j, w in row})
    hp = dict(data.get("hyperparameters") or {})
    owner_uid = data.get("owner_uid", hp.get("owner_uid"))
    if owner_uid is not None:
        hp["owner_uid"] = int(owner_uid)
    params = YumaParams.from_dict(hp)
    sim = Simulation(
        neurons=neurons,
        weights=weights,
        params=params,
        epochs=int(data.get("epochs", 3)),
        alpha_per_block_rao=_amount(data.get("alpha_per_block", 1.0)),
        owner_cut_u16=_take(data["owner_cut"]) if "owner_cut" in data else DEFAULT_OWNER_CUT_U16,
    )
    if params.owner_uid is not None and 0 <= params.owner_uid < len(neurons):
        sim.owner_hotkey = neurons[params.owner_uid].hotkey
        sim.owner_coldkey = neurons[params.owner_uid].owner
    return sim


def load_json(path: str | Path) -> Simulation:
    try:
        return from_dict(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConsensusInputError(f"cannot read simulation input {path}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConsensusInputError):
            raise
        raise ConsensusInputError(f"{path}: malformed simulation input ({exc})") from exc


def load_csv(stakes_path: str | Path, weights_path: str | Path, **options: Any) -> Simulation:
    """Two CSV files with headers.

    stakes: `uid,coldkey,stake` (+ optional `hotkey`, `owner` = 1 for the hotkey's owner row,
    `take`); one row per staker, the first row of a uid is its owner unless another says owner=1.
    weights: `validator,miner,weight` (any positive scale per validator).
    """
    neurons: dict[int, dict[str, Any]] = {}
    try:
        with open(stakes_path, newline="") as fh:
            for row in csv.DictReader(fh):
                uid = int(row["uid"])
                entry = neurons.setdefault(uid, {"uid": uid, "delegators": {}})
                coldkey = row.get("coldkey") or f"coldkey-{uid}"
                if row.get("hotkey"):
                    entry["hotkey"] = row["hotkey"]
                if row.get("take"):
                    entry["take"] = row["take"]
                is_owner = str(row.get("owner", "")).strip().lower() in {"1", "true", "yes"}
                if "owner" not in entry or is_owner:
                    if "owner" in entry and is_owner:
                        entry["delegators"][entry["owner"]] = entry.pop("stake")
                    entry["owner"] = coldkey
                    entry["stake"] = row.get("stake") or 0
                else:
                    entry["delegators"][coldkey] = row.get("stake") or 0
        weights: dict[str, dict[str, float]] = {}
        with open(weights_path, newline="") as fh:
            for row in csv.DictReader(fh):
                weights.setdefault(row["validator"], {})[row["miner"]] = float(row["weight"])
    except OSError as exc:
        raise ConsensusInputError(f"cannot read CSV input: {exc}") from exc
    except (KeyError, ValueError) as exc:
        raise ConsensusInputError(
            f"malformed CSV ({exc}); stakes need uid,coldkey,stake and weights need validator,miner,weight"
        ) from exc
    data = dict(options)
    data["neurons"] = [neurons[u] for u in sorted(neurons)]
    data["weights"] = weights
    return from_dict(data)


def run_simulation(sim: Simulation, mode: str = "exact") -> dict[str, Any]:
    """Play `sim.epochs` tempos; returns per-epoch per-uid results, payouts and totals (rao)."""
    params = sim.params
    n = len(sim.neurons)
    tempo = max(1, params.tempo)
    stakes = {nrn.hotkey: dict(nrn.stakers) for nrn in sim.neurons}
    hotkeys = [nrn.hotkey for nrn in sim.neurons]
    owners = {nrn.hotkey: nrn.owner for nrn in sim.neurons}
    takes = {nrn.hotkey: nrn.take_u16 for nrn in sim.neurons}
    registered = [0] * n
    # A setup epoch without weights hands out the permits a running subnet would already have.
    setup = run_epoch(EpochInput(block=1, stakes=[sum(stakes[h].values()) for h in hotkeys]), params, EpochState(), mode=mode)
    state = EpochState(validator_permits=list(setup.new_validator_permits), last_step_block=1)
    split = split_block_emission(sim.alpha_per_block_rao, owner_cut_u16=sim.owner_cut_u16)
    block = 1
    epochs = []
    totals: dict[tuple[str, str, str], int] = {}
    for index in range(sim.epochs):
        pending = PendingEmission()
        for _ in range(tempo):
            pending.add(split)
        block += tempo
        inputs = EpochInput(
            block=block,
            stakes=[sum(stakes[h].values()) for h in hotkeys],
            weights=sim.weights,
            last_update=[block - 1 if uid in sim.weights else 0 for uid in range(n)],
            block_at_registration=registered,
            rao_emission=pending.epoch_emission,
        )
        result = run_epoch(inputs, params, state, mode=mode)
        state = result.state
        accounts = SubnetAccounts(
            hotkey_owner=owners,
            alpha_stake={h: dict(v) for h, v in stakes.items()},
            subnet_owner_coldkey=sim.owner_coldkey,
            subnet_owner_hotkey=sim.owner_hotkey,
            delegate_take_u16=takes,
        )
        payout = distribute_epoch(
            pending,
            {hotkeys[i]: result.server_emission_rao[i] for i in range(n)},
            {hotkeys[i]: result.validator_emission_rao[i] for i in range(n)},
            accounts,
        )
        for credit in payout.credits:
            pool = stakes.setdefault(credit.hotkey, {})
            pool[credit.coldkey] = pool.get(credit.coldkey, 0) + credit.amount
            key = (credit.coldkey, credit.hotkey, credit.kind)
            totals[key] = totals.get(key, 0) + credit.amount
        epochs.append(
            {
                "epoch": index,
                "block": block,
                "emission_rao": pending.epoch_emission + pending.owner_cut,
                "owner_cut_rao": payout.owner_cut,
                "burned_rao": payout.burned,
                "recycled_rao": payout.recycled,
                "uids": [
                    {
                        "uid": i,
                        "hotkey": hotkeys[i],
                        "stake_rao": inputs.stakes[i],
                        "validator_permit": bool(state.validator_permits[i]),
                        "consensus": result.consensus[i],
                        "incentive": result.incentive[i],
                        "dividends": result.dividends[i],
                        "validator_trust": result.validator_trust[i],
                        "server_emission_rao": result.server_emission_rao[i],
                        "validator_emission_rao": result.validator_emission_rao[i],
                    }
                    for i in range(n)
                ],
                "payouts": [
                    {"coldkey": c.coldkey, "hotkey": c.hotkey, "kind": c.kind, "amount_rao": c.amount}
                    for c in payout.credits
                ],
            }
        )
    return {
        "mode": mode,
        "n": n,
        "epochs": epochs,
        "totals": [
            {"coldkey": c, "hotkey": h, "kind": k, "amount_rao": v} for (c, h, k), v in sorted(totals.items())
        ],
        "final_stakes": [
            {"hotkey": h, "coldkey": c, "stake_rao": v} for h in hotkeys for c, v in sorted(stakes[h].items())
        ],
    }
