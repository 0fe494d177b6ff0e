"""`flock-subnet eval` and `flock-subnet competitions` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from flock_subnet.evaluation import evaluate_loss
from flock_subnet.rules.competitions import COMPETITIONS, LOCAL
from flock_subnet.rules.data import hidden_samples, round_seed


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "flock_subnet.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_eval_json_reports_the_loss_of_the_seeded_round(tiny_model_dir):
    done = _run("eval", str(tiny_model_dir), "--competition", "local", "--seed", "5", "--samples", "16", "--device", "cpu", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    expected = evaluate_loss(tiny_model_dir, hidden_samples(LOCAL, 5, n=16), LOCAL, device="cpu")
    assert info["loss"] == pytest.approx(expected.loss, abs=1e-6)
    assert info["per_task"] == pytest.approx(expected.per_task, abs=1e-6)
    assert (info["samples"], info["tokens"], info["seed"], info["block"]) == (16, expected.tokens, 5, None)
    assert info["tokens_per_s"] > 0 and info["competition"] == "local"


def test_eval_block_takes_the_seed_from_the_chain_and_sandbox_agrees(tiny_model_dir, local_chain, tmp_path):
    local_chain.advance(5)
    chain_file = tmp_path / "localchain.db"
    assert chain_file.is_file()
    done = _run(
        "eval", str(tiny_model_dir), "--competition", "local", "--block", "3", "--samples", "12", "--sandbox", "--device", "cpu",
        "--subtensor.chain_endpoint", f"file://{chain_file}", "--json",
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    seed = round_seed(local_chain.block_hash(3))
    assert (info["block"], info["seed"]) == (3, seed)
    expected = evaluate_loss(tiny_model_dir, hidden_samples(LOCAL, seed, n=12), LOCAL, device="cpu")
    assert info["loss"] == pytest.approx(expected.loss, abs=1e-6)


def test_eval_of_a_missing_model_reports_the_fault_as_json(tmp_path):
    done = _run("eval", str(tmp_path / "missing"), "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {
        "error": f"model folder {tmp_path / 'missing'} does not exist; download or admit the model first",
        "fault": "validator",
    }


def test_competitions_json_lists_every_competition():
    done = _run("competitions", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["id"] for row in rows] == list(COMPETITIONS)
    local = rows[0]
    assert local["base"]["tiny"] == "small" and local["tasks"] == dict(LOCAL.tasks)
    assert local["epsilon"] == {"start": LOCAL.epsilon_start, "end": LOCAL.epsilon_end, "decay_blocks": LOCAL.epsilon_decay_blocks}
    assert local["round_length_blocks"] == LOCAL.round_length_blocks and local["reward_share"] == LOCAL.reward_share
    table = _run("competitions")
    assert table.returncode == 0 and "qwen05b" in table.stdout


def test_eval_json_reports_accuracy_next_to_the_loss(tiny_model_dir):
    done = _run("eval", str(tiny_model_dir), "--competition", "local", "--seed", "5", "--samples", "16",
                "--accuracy-samples", "6", "--device", "cpu", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert 0.0 <= info["accuracy"] <= 1.0 and info["accuracy_samples"] == 6
    assert set(info["accuracy_per_task"]) <= set(LOCAL.tasks) and info["accuracy_seconds"] > 0
    assert "loss" in info


def test_greedy_replies_do_not_depend_on_batching_and_match_exactly(tiny_model_dir):
    from flock_subnet.evaluation.accuracy import accuracy_subset, evaluate_accuracy, exact_match

    subset = accuracy_subset(hidden_samples(LOCAL, 5, n=16), 6, 5)
    assert subset == accuracy_subset(hidden_samples(LOCAL, 5, n=16), 6, 5) and len(subset) == 6
    one = evaluate_accuracy(tiny_model_dir, subset, LOCAL, device="cpu", batch_size=1)
    many = evaluate_accuracy(tiny_model_dir, subset, LOCAL, device="cpu", batch_size=6)
    assert one.predictions == many.predictions  # left padding does not change a greedy reply
    assert one.generated_tokens > 0 and one.samples == 6 and one.correct == round(one.accuracy * 6)
    assert exact_match("  g  o d<|im_end|>junk", "g o d") and not exact_match("g o", "g o d")
