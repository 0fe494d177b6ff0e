"""Every vector transcribed from subtensor's tests, replayed through the epoch.

Exact mode must reproduce every asserted value within the vector's stated tolerance (and the
informative numbers the reference says an exact implementation reproduces); float mode must
agree with exact mode on the same epochs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flock_subnet.rules.consensus import fixed, run_epoch
from flock_subnet.rules.consensus.exact import mat_ema_alpha_sparse, weighted_median_col
from flock_subnet.rules.consensus.replay import replay_steps, replay_vector
from flock_subnet.rules.consensus.schema import OUTPUT_KEYS
from flock_subnet.rules.consensus.vectors import check_step
from tests.rules.consensus.vector_files import all_vectors, public_vectors_file, vector_paths

VECTORS = all_vectors()
EPOCH_VECTORS = [v for v in VECTORS if any(k in v for k in ("steps", "generator", "schedule")) or (
    "cases" in v and any("initial_state" in c or "stake_rao" in c for c in v["cases"])
)]
MEDIAN_VECTORS = [v for v in VECTORS if "cases" in v and v["cases"] and "kappa" in v["cases"][0]]
EMA_VECTORS = [v for v in VECTORS if "cases" in v and v["cases"] and "alpha" in v["cases"][0] and "old" in v["cases"][0]]


def test_vector_files_present():
    assert vector_paths(), "no Yuma vectors found: expected tests/data_files/yuma/*.json"
    assert len(VECTORS) >= 11
    assert len({v["id"] for v in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("vector", EPOCH_VECTORS, ids=lambda v: v["id"])
def test_exact_mode_reproduces_every_asserted_value(vector):
    steps = list(replay_steps(vector, "exact"))
    assert steps, "an epoch vector must yield epochs"
    checked = 0
    for step in steps:
        failures = check_step(step.result.to_dict(), step.expected, step.assertion, step.group)
        assert not failures, f"{vector['id']} {step.label}: {failures}"
        checked += len(step.expected)
    assert checked > 0


@pytest.mark.parametrize("vector", EPOCH_VECTORS, ids=lambda v: v["id"])
def test_exact_mode_reproduces_informative_numbers(vector):
    for step in replay_steps(vector, "exact"):
        out = step.result.to_dict()
        info = step.informative
        if "emission_rao" in info:
            assert out["emission_rao"] == info["emission_rao"], step.label
        bonds = info.get("bonds_prop")
        if isinstance(bonds, dict) and isinstance(bonds.get("values"), list):
            values = bonds["values"]
            if "cols" in bonds:
                cols = bonds["cols"]
                pairs = [(row, cols) for row in values]
            else:  # written [0, b3, b4]: entries 1.. are bonds to the servers after the validators
                pairs = [(row[1:], list(range(len(values), len(values) + len(row) - 1))) for row in values]
            for uid, (row, cols) in enumerate(pairs):
                for col, want in zip(cols, row):
                    assert abs(out["bonds_prop"][uid][col] - want) <= 1.2e-4, (step.label, uid, col)


def test_checker_catches_a_wrong_expectation():
    vector = next(v for v in VECTORS if v["id"] == "test_active_stake")
    step = list(replay_steps(vector, "exact"))[2]
    out = step.result.to_dict()
    assert check_step(out, step.expected, step.assertion) == []
    wrong = dict(step.expected, **{"dividends_u16[0]": 36045, "bonds_u16[1][2..4]": [53619, 53618]})
    failures = check_step(out, wrong, step.assertion)
    assert len(failures) == 2


FLOAT_KEYS = (
    "consensus",
    "incentive",
    "dividends",
    "validator_trust",
    "active_stake",
    "normalised_stake",
    "normalized_combined_emission",
    "normalized_server_emission",
    "normalized_validator_emission",
    "weights_mask_norm",
    "bonds_delta_norm",
)


def _flat(value):
    if value and isinstance(value[0], list):
        return [x for row in value for x in row]
    return value


@pytest.mark.parametrize("vector", EPOCH_VECTORS, ids=lambda v: v["id"])
def test_float_mode_agrees_with_exact_mode(vector):
    for step in replay_steps(vector, "exact"):
        exact = step.result.to_dict()
        approx = run_epoch(step.inputs, step.params, step.state_before, mode="float").to_dict()
        assert set(approx) == set(exact) == set(OUTPUT_KEYS)
        for key in FLOAT_KEYS:
            a, b = _flat(exact[key]), _flat(approx[key])
            assert len(a) == len(b)
            assert max((abs(x - y) for x, y in zip(a, b)), default=0.0) <= 1e-6, (step.label, key)
        for key in ("active", "new_validator_permits"):
            assert approx[key] == exact[key], (step.label, key)
        for key in ("consensus_u16", "incentive_u16", "dividends_u16", "validator_trust_u16", "stake_weight_u16", "bonds_u16"):
            a, b = _flat(exact[key]), _flat(approx[key])
            assert max((abs(x - y) for x, y in zip(a, b)), default=0) <= 1, (step.label, key)
        for key in ("emission_rao", "server_emission_rao", "validator_emission_rao"):
            for x, y in zip(exact[key], approx[key]):
                assert abs(x - y) <= max(2, 1e-6 * step.inputs.rao_emission), (step.label, key)


def test_weighted_median_vectors_bit_exact():
    cases = [c for v in MEDIAN_VECTORS for c in v["cases"]]
    assert cases, "the public vectors carry weighted-median cases"
    for case in cases:
        stake = [fixed.from_f32(s) for s in case["stake"]]
        rows = [[(j, fixed.from_f32(w)) for j, w in enumerate(row)] for row in case["weights"]]
        columns = len(case["weights"][0])
        got = weighted_median_col(stake, rows, columns, fixed.from_f32(case["kappa"]))
        assert got == [fixed.from_f32(e) for e in case["expected"]], case


# The chain's sparse liquid-alpha EMA: only columns present in `new` survive (absent weights drop
# the bond), values are capped at 1. Rows are flattened row-major; zeros are absent entries.
BUILT_IN_EMA_CASES = [
    {
        "rows": 2,
        "old": [0.5, 0.0, 0.2, 0.0, 0.1, 0.0],
        "new": [1.0, 0.0, 0.0, 0.0, 0.0, 0.4],
        "alpha": 0.1,
        "expected": [0.55, 0.0, 0.0, 0.0, 0.0, 0.04],
        "tol": 1e-6,
    },
    {
        "rows": 1,
        "old": [0.9, 0.8],
        "new": [10.0, 1.0],
        "alpha": [0.5, 0.5],
        "expected": [1.0, 0.9],
        "tol": 1e-6,
    },
]


def test_liquid_alpha_ema_cases():
    cases = BUILT_IN_EMA_CASES + [c for v in EMA_VECTORS for c in v["cases"]]
    for case in cases:
        rows = int(case["rows"])
        cols = len(case["old"]) // rows

        def sparse(flat):
            return [
                [(j, fixed.from_f32(flat[i * cols + j])) for j in range(cols) if flat[i * cols + j] != 0]
                for i in range(rows)
            ]

        alpha = case["alpha"]
        if not isinstance(alpha, list):
            alpha = [alpha] * (rows * cols)
        dense_alpha = [[fixed.from_f32(alpha[i * cols + j]) for j in range(cols)] for i in range(rows)]
        got = mat_ema_alpha_sparse(sparse(case["new"]), sparse(case["old"]), dense_alpha)
        for i in range(rows):
            row = dict(got[i])
            for j in range(cols):
                want = case["expected"][i * cols + j]
                assert abs(fixed.to_float(row.get(j, 0)) - want) <= float(case.get("tol", 1e-6)), (case, i, j)


def test_replay_record_has_the_documented_layout():
    vector = next(v for v in VECTORS if v["id"] == "test_bonds")
    record = replay_vector(vector)
    assert record["id"] == "test_bonds"
    assert [s["block"] for s in record["steps"]] == [s["block"] for s in vector["steps"]]
    outputs = record["steps"][1]["outputs"]
    assert set(outputs) == set(OUTPUT_KEYS)
    n = vector["initial_state"]["n"]
    for key, value in outputs.items():
        assert len(value) == n, key
    assert all(len(row) == n for row in outputs["bonds_u16"])
    cases = next(v for v in VECTORS if v["id"] == "epoch_logs_simple_and_permits")
    assert [s["block"] for s in replay_vector(cases)["steps"]] == [c["current_block"] for c in cases["cases"]]
    assert replay_vector(next(v for v in VECTORS if v.get("kind") == "emission_split"))["steps"] == []


def test_cli_replay_as_a_subprocess(tmp_path):
    source = public_vectors_file()
    proc = subprocess.run(
        [sys.executable, "-m", "flock_subnet", "yuma", "replay", str(source), "--json", "--mode", "exact"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    by_id = {r["id"]: r for r in records}
    vectors = json.loads(source.read_text())
    assert [r["id"] for r in records] == [v["id"] for v in vectors]
    for vector in vectors:
        if vector["id"] == "test_zero_weights":
            assert [s["outputs"]["emission_rao"] for s in by_id[vector["id"]]["steps"]] == [
                s["expected"]["emission_rao"] for s in vector["steps"]
            ]
    checked = subprocess.run(
        [sys.executable, "-m", "flock_subnet", "yuma", "replay", str(source), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "match" in checked.stdout


DENSE_VECTORS = [v for v in EPOCH_VECTORS if "epoch_dense" in str(v.get("epoch_function", ""))]


def test_dense_variant_meets_the_same_targets():
    assert DENSE_VECTORS, "the public Yuma3 vectors are stated for both epoch variants"
    for vector in DENSE_VECTORS:
        for step in replay_steps(vector, "exact", "dense"):
            assert check_step(step.result.to_dict(), step.expected, step.assertion, step.group) == [], step.label
