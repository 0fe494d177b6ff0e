"""Replay test vectors (subtensor's own epoch tests, transcribed) through the epoch.

A vector is a JSON object with one driver: `steps`, `cases`, `generator` or `schedule`
(formats in the Yuma reference, section 3). `replay_steps` runs it and yields one `ReplayStep`
per epoch, in the documented order, each with the inputs, the state before the epoch, the
result and what the vector expects there. Vectors without epochs (math functions, the emission
split) yield nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flock_subnet.rules.consensus.errors import ConsensusInputError
from flock_subnet.rules.consensus.scenario import Scenario
from flock_subnet.rules.consensus.schema import EpochInput, EpochResult, EpochState, YumaParams
from flock_subnet.rules.consensus.yuma import max_upscale_u16

U16_MAX = 65_535


@dataclass
class ReplayStep:
    """One epoch of a vector: what went in, what came out, and what the vector asserts."""

    vector_id: str
    label: str
    block: int
    params: YumaParams
    inputs: EpochInput
    state_before: EpochState
    result: EpochResult
    expected: dict[str, Any] = field(default_factory=dict)
    assertion: str = ""
    informative: dict[str, Any] = field(default_factory=dict)
    group: dict[str, list[int]] | None = None  # generator vectors: validator and server uids
    final: bool = True  # generator vectors: False for the epochs before a variant's last one


def params_from_hyperparameters(hp: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> YumaParams:
    values = dict(hp)
    values.update(overrides or {})
    cr = values.get("commit_reveal_masking")
    values["commit_reveal"] = isinstance(cr, bool) and cr
    return YumaParams.from_dict(values)


def load_vectors(path: str | Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConsensusInputError(f"cannot read vectors from {path}: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("vectors", [data])
    if not isinstance(data, list):
        raise ConsensusInputError(f"{path}: expected a JSON list of vectors")
    return data


def replay_steps(vector: Mapping[str, Any], mode: str = "exact", variant: str = "sparse") -> Iterator[ReplayStep]:
    """Run every epoch of `vector` in order (see the module docstring)."""
    if vector.get("kind") == "emission_split":
        return
    mode = _Mode(mode, variant)
    if "steps" in vector:
        yield from _steps(vector, mode)
    elif "cases" in vector:
        yield from _cases(vector, mode)
    elif "generator" in vector:
        yield from _generator(vector, mode)
    elif "schedule" in vector:
        yield from _schedule(vector, mode)


COMPACT_ABOVE_N = 256


def replay_vector(vector: Mapping[str, Any], mode: str = "exact", compact: bool | None = None) -> dict[str, Any]:
    """The `yuma replay` record of one vector: `{"id", "steps": [{"block", "outputs"}]}`.

    `compact` keeps only each generator variant's final epoch; None (auto) does so for generated
    networks above COMPACT_ABOVE_N uids, whose dense matrices would otherwise fill gigabytes.
    """
    if compact is None:
        compact = "generator" in vector and int(vector["generator"].get("n", 0)) > COMPACT_ABOVE_N
    return {
        "id": vector.get("id"),
        "steps": [
            {"block": s.block, "outputs": s.result.to_dict()}
            for s in replay_steps(vector, mode)
            if s.final or not compact
        ],
    }


def _base(vector: Mapping[str, Any]) -> tuple[YumaParams, int, int]:
    hp = vector.get("hyperparameters", {})
    return params_from_hyperparameters(hp), int(hp.get("rao_emission", 1_000_000_000)), int(
        hp.get("last_mechanism_step_block", 0) or 0
    )


@dataclass(frozen=True)
class _Mode:
    mode: str
    variant: str


def _record(vector, label, scenario: Scenario, block: int, mode: _Mode, **extra) -> ReplayStep:
    inputs, before, result = scenario.run(block, mode.mode, mode.variant)
    return ReplayStep(
        vector_id=str(vector.get("id")),
        label=label,
        block=block,
        params=scenario.params,
        inputs=inputs,
        state_before=before,
        result=result,
        **extra,
    )


def _steps(vector, mode):
    params, emission, step_block = _base(vector)
    scenario = Scenario.from_initial_state(vector["initial_state"], params, emission, step_block)
    for index, step in enumerate(vector["steps"]):
        for action in step.get("actions", []):
            _apply_action(scenario, action)
        informative = dict(step.get("informative") or {})
        if "informative_bonds_prop" in step:
            informative["bonds_prop"] = step["informative_bonds_prop"]
        yield _record(
            vector,
            f"step {index} (block {step['block']})",
            scenario,
            int(step["block"]),
            mode,
            expected=dict(step.get("expected") or {}),
            assertion=str(step.get("assertion", vector.get("assertion", ""))),
            informative=informative,
        )


def _apply_action(scenario: Scenario, action: Mapping[str, Any]) -> None:
    if "set_weights" in action:
        sw = action["set_weights"]
        uid = int(sw["uid"])
        scenario.set_weights(uid, sw["stored_u16"])
    if "replace_neuron" in action:
        rn = action["replace_neuron"]
        scenario.replace_neuron(int(rn["uid"]), int(rn["block"]), int(rn.get("new_stake_rao", 0)))
    for uid, block in (action.get("last_update") or {}).items():
        scenario.last_update[int(uid)] = int(block)


_PERMIT_CASE = re.compile(r"^expected_(.+)_epoch(\d+)$")


def _cases(vector, mode):
    params, emission, step_block = _base(vector)
    hp_names = set(YumaParams.__dataclass_fields__) | {"activity_cutoff_blocks"}
    for case in vector["cases"]:
        overrides = {k: v for k, v in case.items() if k in hp_names}
        case_params = params_from_hyperparameters(vector.get("hyperparameters", {}), overrides)
        name = str(case.get("name", ""))
        if "initial_state" in case:
            scenario = Scenario.from_initial_state(case["initial_state"], case_params, emission, step_block)
            yield _record(
                vector,
                name,
                scenario,
                int(case["current_block"]),
                mode,
                expected=dict(case.get("expected") or {}),
                assertion=str(case.get("assertion", vector.get("assertion", ""))),
            )
            continue
        epochs = sorted({int(m.group(2)) for k in case if (m := _PERMIT_CASE.match(k))})
        if not epochs:
            continue  # a math case: no epoch to run
        n = int(case.get("network_n", case.get("n", len(case.get("stake_rao", [])))))
        initial = {"n": n, "stake_rao": case["stake_rao"], "block_at_registration": 0, "last_update": 0}
        scenario = Scenario.from_initial_state(initial, case_params, emission, step_block)
        start = int(case.get("current_block", 0))
        for k in range(1, max(epochs) + 1):
            if k > 1:
                stakes = case.get(f"stake_rao_epoch{k}", case.get("stake_rao_after_increase"))
                if stakes is not None:
                    scenario.stakes = [int(s) for s in stakes]
            expected = {}
            for key, value in case.items():
                m = _PERMIT_CASE.match(key)
                if m and int(m.group(2)) == k:
                    expected[m.group(1)] = value
            yield _record(
                vector,
                f"{name or 'case'} epoch {k}",
                scenario,
                start + k - 1,
                mode,
                expected=expected,
                assertion=str(case.get("assertion", vector.get("assertion", "exact"))),
            )


def _first_int(text: Any, pattern: str, default: int) -> int:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text)
    if not isinstance(text, str):
        return default
    m = re.search(pattern, text)
    return int(m.group(1)) if m else default


def generator_validators(n: int, validators_n: int, interleave: int) -> list[int]:
    """Validator uids of a generated network: the first ones (0) or every n/validators_n-th (1)."""
    if interleave == 0:
        return list(range(validators_n))
    if interleave == 1:
        step = n // validators_n
        return [uid for uid in range(n) if uid % step == 0][:validators_n]
    raise ConsensusInputError(f"interleave {interleave} is not deterministic; only 0 and 1 can be replayed")


def _generator(vector, mode):
    params, emission, step_block = _base(vector)
    g = vector["generator"]
    n, validators_n = int(g["n"]), int(g["validators_n"])
    block = int(g.get("block", 1))
    first_block = _first_int(g.get("first_epoch"), r"block\s+(\d+)", block)
    weights_block = _first_int(g.get("weights"), r"last_update\D{0,20}?(\d+)", block)
    # Only the deterministic interleavings can be replayed (the random one is never transcribed).
    interleaves = sorted(int(k) for k in (g.get("interleave") or {"0": None}) if str(k) in ("0", "1"))
    self_variants = g.get("server_self")
    if isinstance(self_variants, list):
        selfs = [bool(v) for v in self_variants]
    elif self_variants is None or self_variants is False:
        selfs = [False]
    else:
        selfs = [False, True]
    epochs_after = int(g.get("epochs_after_weights", 1))
    for interleave in interleaves:
        for server_self in selfs:
            validators = generator_validators(n, validators_n, interleave)
            vset = set(validators)
            servers = [uid for uid in range(n) if uid not in vset]
            stakes = [
                int(g.get("validator_stake_rao", 1)) if uid in vset else int(g.get("server_stake_rao", 0))
                for uid in range(n)
            ]
            initial = {
                "n": n,
                "stake_rao": stakes,
                "block_at_registration": g.get("block_at_registration", 0),
                "last_update": g.get("last_update_initial", 0),
            }
            scenario = Scenario.from_initial_state(initial, params, emission, step_block)
            group = {"validators": validators, "servers": servers}
            label = f"interleave={interleave} server_self={server_self}"
            if g.get("first_epoch"):
                yield _record(vector, f"{label} setup", scenario, first_block, mode, group=group, final=False)
            row = max_upscale_u16([U16_MAX // n] * len(servers))
            for uid in validators:
                scenario.set_weights(uid, list(zip(servers, row)), weights_block)
            if server_self:
                for uid in servers:
                    scenario.set_weights(uid, [(uid, U16_MAX)], weights_block)
            for e in range(epochs_after):
                last = e == epochs_after - 1
                yield _record(
                    vector,
                    f"{label} epoch {e}",
                    scenario,
                    block,
                    mode,
                    expected=dict(vector.get("expected") or {}) if last else {},
                    assertion=str(vector.get("assertion", "")) if last else "",
                    group=group,
                    final=last,
                )


def _epoch_keys(mapping: Mapping[str, Any]) -> dict[int, Any]:
    """Expand keys '3' and inclusive ranges '2..5' to one entry per epoch."""
    out: dict[int, Any] = {}
    for key, value in (mapping or {}).items():
        text = str(key)
        m = re.fullmatch(r"\s*(\d+)\s*\.\.(=?)\s*(\d+)\s*", text)
        if m:
            for e in range(int(m.group(1)), int(m.group(3)) + 1):
                out[e] = value
        elif re.fullmatch(r"\s*\d+\s*", text):
            out[int(text)] = value
    return out


def _parse_reset(reset: Any) -> tuple[int, int] | None:
    """(epoch, uid) of a bonds reset, from an object or a sentence."""
    if isinstance(reset, Mapping):
        return int(reset["epoch"]), int(reset.get("uid", reset.get("hotkey_uid", 0)))
    if isinstance(reset, str):
        epoch = re.search(r"epoch\D{0,3}(\d+)", reset)
        uid = re.search(r"reset_bonds\s*\(\s*(?:uid\s*)?(\d+)", reset) or re.search(r"uid\s*(\d+)", reset)
        if epoch and uid:
            return int(epoch.group(1)), int(uid.group(1))
    return None


def _schedule_timing(text: str) -> tuple[int, int]:
    """(A, B) of "weights set at block A+e, epoch at block B+e" (defaults 2 and 3)."""
    found = [(m.start(), int(m.group(1))) for m in re.finditer(r"block\s+(\d+)\s*\+\s*e\b", text)]
    if len(found) >= 2:
        return found[0][1], found[1][1]
    if len(found) == 1:
        start, value = found[0]
        before = text[max(0, start - 40):start]
        if "set" in before or "weight" in before:
            return value, value + 1
        return value - 1, value
    return 2, 3


def _u16_row(values) -> list[int]:
    """A schedule row as submitted: u16 integers, or proportions in [0, 1] given as floats."""
    if any(isinstance(v, float) and not float(v).is_integer() for v in values):
        return max_upscale_u16([int(round(float(v) * U16_MAX)) for v in values])
    return max_upscale_u16([int(v) for v in values])


def _schedule(vector, mode):
    params, emission, step_block = _base(vector)
    s = vector["schedule"]
    scenario = Scenario.from_initial_state(vector["initial_state"], params, emission, step_block)
    set_offset, epoch_offset = _schedule_timing(str(s.get("epoch e", "")))
    weights = _epoch_keys(s.get("weights") or {})
    dividends = _epoch_keys(vector.get("expected_dividends_prop") or s.get("expected_dividends_prop") or {})
    bonds = _epoch_keys(vector.get("informative_bonds_prop") or s.get("informative_bonds_prop") or {})
    count = s.get("epochs", s.get("num_epochs"))
    if count is None:
        count = max([*weights, *dividends, *bonds, -1]) + 1
    cols = [int(c) for c in s.get("weights_cols", [])]
    validators = s.get("validators")
    reset = _parse_reset(s.get("reset"))
    reset_on = bool(vector.get("hyperparameters", {}).get("bonds_reset_on", reset is not None))
    if s.get("setup"):
        setup_block = _first_int(s.get("setup"), r"block\s+(\d+)", set_offset)
        yield _record(vector, "setup", scenario, setup_block, mode)
    assertion = str(vector.get("assertion", "dividends abs_tol 1e-3"))
    for e in range(int(count)):
        if e in weights:
            rows = weights[e]
            if isinstance(rows, Mapping):
                listed = [(int(uid), row) for uid, row in rows.items()]
            else:
                listed = [(int(validators[k]) if validators else k, row) for k, row in enumerate(rows)]
            for uid, row in listed:
                if row and isinstance(row[0], (list, tuple)):
                    pairs = [(int(j), int(w)) for j, w in row]
                else:
                    pairs = list(zip(cols, _u16_row(row)))
                scenario.set_weights(uid, pairs, set_offset + e)
        if reset is not None and reset[0] == e and reset_on:
            scenario.reset_bonds(reset[1])
        expected = {"dividends_prop": dividends[e]} if e in dividends else {}
        informative = {"bonds_prop": bonds[e]} if e in bonds else {}
        yield _record(
            vector,
            f"epoch {e}",
            scenario,
            epoch_offset + e,
            mode,
            expected=expected,
            assertion=assertion if expected else "",
            informative=informative,
        )
