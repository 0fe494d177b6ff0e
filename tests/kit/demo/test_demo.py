"""A shortened `flock-subnet demo`, run as a user runs it, and the properties it must show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flock_subnet.validator.state import SubmissionState, ValidatorState

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["plain", "commit-reveal"])
def demo_results(request, tmp_path_factory) -> tuple[dict, Path, str]:
    """The demo's results; with commit-reveal on, every property below must hold just the same."""
    workdir = tmp_path_factory.mktemp("demo")
    extra = ["--commit-reveal"] if request.param == "commit-reveal" else []
    out = workdir / "results.json"
    env = dict(os.environ, WANDB_MODE="offline", PYTHONUNBUFFERED="1")
    env.pop("HF_HUB_OFFLINE", None)  # the demo talks to its own hub on loopback
    proc = subprocess.run(
        [sys.executable, "-m", "flock_subnet", "demo", "--workdir", str(workdir), "--epochs", "4",
         "--strong-steps", "40", "--weak-steps", "8", "--eval-samples", "32", "--json", str(out), *extra],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), workdir, proc.stdout


def _by_kind(results: dict, kind: str) -> list[dict]:
    return [n for n in results["neurons"] if n["kind"] == kind]


def test_json_has_the_documented_shape(demo_results):
    results, _, _ = demo_results
    for neuron in results["neurons"]:
        for key in ("uid", "hotkey", "role", "kind", "ref", "eval_loss", "weights_from", "incentive", "dividends",
                    "emission_rao"):
            assert key in neuron
        assert neuron["role"] in ("owner", "validator", "miner")
    for delegator in results["delegators"]:
        assert set(delegator) >= {"coldkey", "validator_uid", "stake_rao", "payout_rao"}
    assert set(results["totals"]) >= {"minted_rao", "owner_cut_rao", "miners_rao", "validators_rao", "delegators_rao",
                                      "credited_rao"}
    assert all("training_steps" in n for n in _by_kind(results, "honest"))


def test_better_trained_honest_miner_wins_and_copier_and_base_earn_nothing(demo_results):
    results, _, _ = demo_results
    honest = sorted(_by_kind(results, "honest"), key=lambda n: -n["training_steps"])
    miners = [n for n in results["neurons"] if n["role"] == "miner"]
    top = max(miners, key=lambda n: n["incentive"])
    assert top["uid"] == honest[0]["uid"]
    assert honest[0]["eval_loss"] < honest[1]["eval_loss"]
    base, copier = _by_kind(results, "base")[0], _by_kind(results, "copier")[0]
    assert base["incentive"] < 0.01 and copier["incentive"] < 0.01
    assert copier["emission_rao"] < 0.01 * honest[0]["emission_rao"]
    # the copier serves the very same bytes as the best model, so its loss is the same: only the
    # clone filter keeps it from earning
    assert copier["eval_loss"] == pytest.approx(honest[0]["eval_loss"])
    validators = {str(n["uid"]) for n in results["neurons"] if n["role"] == "validator"}
    assert set(honest[0]["weights_from"]) == validators
    assert all(w > 0.5 for w in honest[0]["weights_from"].values())
    assert all(w == 0 for w in copier["weights_from"].values())


def test_delegators_earn_in_proportion_to_stake_after_take(demo_results):
    results, _, _ = demo_results
    by_validator: dict[int, list[dict]] = {}
    for d in results["delegators"]:
        assert d["payout_rao"] > 0
        by_validator.setdefault(d["validator_uid"], []).append(d)
    returns = {v: [d["payout_rao"] / d["stake_rao"] for d in ds] for v, ds in by_validator.items()}
    for v, rs in returns.items():
        assert max(rs) == pytest.approx(min(rs), rel=1e-6), f"delegators of uid {v} earned unequal returns: {rs}"
    assert any(len(ds) > 1 for ds in by_validator.values())
    # and after the take: of the dividends flowing through a validator's hotkey, its delegators
    # get (1 - take) of their stake share (shares drift a little as payouts compound)
    validators = {n["uid"]: n for n in results["neurons"] if n["role"] == "validator"}
    for v, ds in by_validator.items():
        validator = validators[v]
        assert 0 < validator["take"] < 1
        pool = validator["own_stake_rao"] + sum(d["stake_rao"] for d in ds)
        for d in ds:
            expected = (1 - validator["take"]) * validator["emission_rao"] * d["stake_rao"] / pool
            assert d["payout_rao"] == pytest.approx(expected, rel=0.02)


def test_minted_equals_credited_and_outputs_exist(demo_results):
    results, workdir, stdout = demo_results
    totals = results["totals"]
    assert totals["minted_rao"] > 0
    assert totals["minted_rao"] == totals["credited_rao"]
    assert totals["credited_rao"] == (totals["owner_cut_rao"] + totals["miners_rao"] + totals["validators_rao"]
                                      + totals["delegators_rao"])
    png = workdir / "emissions.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Leaderboard" in stdout and "Payouts" in stdout
    assert list((workdir / "wandb").glob("offline-run-*")) or list((workdir / "wandb").glob("wandb/offline-run-*"))


def test_under_commit_reveal_the_weights_are_committed_then_revealed(demo_results, request):
    results, workdir, stdout = demo_results
    states = {}
    for path in sorted((workdir / "validators").glob("*/state.db")):
        with ValidatorState(path) as state:
            states[path.parent.name] = [s.state for s in state.weight_submissions(limit=50)]
    assert len(states) == 2
    for submitted in states.values():
        if "commit-reveal" in request.node.callspec.id:
            assert SubmissionState.REVEALED in submitted and SubmissionState.SET not in submitted
            assert SubmissionState.DROPPED not in submitted
        else:
            assert set(submitted) == {SubmissionState.SET}
