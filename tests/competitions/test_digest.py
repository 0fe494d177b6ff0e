"""The consensus digest: pinned, the same in every process, checked by validators at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from flock_subnet.cli import main
from flock_subnet.evaluation.samples import round_digest
from flock_subnet.rules.competitions import LOCAL, QWEN_05B, DeclaredDigest
from flock_subnet.rules.data import DataError
from flock_subnet.validator.data_check import DataEnvironmentError, DigestStatus, check_data_digest, require_matching_data

ROOT = Path(__file__).resolve().parents[2]
# Any change to these changes every validator's hidden data: it must be on purpose.
PINNED_PRODUCTION_SEED_1_N_256 = "sha256:a7ca1c858fd025abc7cc0b82f76265fe61f77433174d790981d70ce1a78b555c"
PINNED_LOCAL_SEED_1_N_96 = "sha256:8b5e2745ad3c7d3c3cb863aa3fccc66481106efc3ff52f480bcc46b6e3e16dd9"


def test_the_digest_of_a_fixed_round_is_pinned_and_declared():
    assert round_digest(QWEN_05B, 1, 256) == PINNED_PRODUCTION_SEED_1_N_256 == QWEN_05B.data_digest.sha256
    assert round_digest(LOCAL, 1, 96) == PINNED_LOCAL_SEED_1_N_96 == LOCAL.data_digest.sha256
    assert round_digest(QWEN_05B, 2, 256) != PINNED_PRODUCTION_SEED_1_N_256


def _digest_cli(seed: int, hash_seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    command = [sys.executable, "-m", "flock_subnet", "data", "digest", "--competition", "qwen05b",
               "--seed", str(seed), "--n", "128", "--json"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_data_digest_is_the_same_in_separate_processes_with_other_hash_seeds(capsys):
    first, second = _digest_cli(77, "1"), _digest_cli(77, "4242")
    assert first == second
    assert first["competition"] == "qwen05b" and first["n"] == 128 and sum(first["task_counts"].values()) == 128
    assert first["digest"].startswith("sha256:") and len(first["digest"]) == 71
    assert main(["data", "digest", "--competition", "qwen05b", "--seed", "78", "--n", "128", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["digest"] != first["digest"]


def test_data_sample_prints_the_round(capsys):
    assert main(["data", "sample", "--competition", "qwen05b", "--seed", "3", "--n", "20", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["samples"]) == 20 and shown["samples"][0]["messages"][-1]["role"] == "assistant"
    assert main(["data", "digest", "--competition", "local", "--seed", "1", "--check"]) == 0
    assert capsys.readouterr().out.splitlines() == [PINNED_LOCAL_SEED_1_N_96, "declared digest: match"]


def test_a_validator_refuses_to_score_when_its_data_differ_and_says_why():
    wrong = replace(LOCAL, data_digest=DeclaredDigest(1, 96, "sha256:" + "0" * 64))
    check = check_data_digest(wrong)
    assert check.status is DigestStatus.MISMATCH and not check.ok
    assert PINNED_LOCAL_SEED_1_N_96 in check.reason and "different hidden samples" in check.reason
    with pytest.raises(DataEnvironmentError, match="refusing to score") as caught:
        require_matching_data([LOCAL, wrong])
    assert "local: round seed 1 with 96 samples generates" in str(caught.value)
    assert [c.status for c in require_matching_data([LOCAL, replace(LOCAL, data_digest=None)])] == [
        DigestStatus.MATCH, DigestStatus.UNDECLARED,
    ]  # fmt: skip


def test_a_round_that_cannot_be_generated_is_a_refusal_with_the_fix():
    def broken(competition, seed, n):
        raise DataError("reasoning-gym is not installed")

    check = check_data_digest(QWEN_05B, broken)
    assert check.status is DigestStatus.FAILED
    assert "reasoning-gym is not installed" in check.reason and "reasoning-gym==0.1.25" in check.reason


def test_validator_run_stops_before_scoring_on_a_wrong_digest(tmp_path, capsys):
    text = (ROOT / "flock_subnet/rules/builtin/local.toml").read_text()
    text = text.replace('id = "local"', 'id = "drifted"').replace(PINNED_LOCAL_SEED_1_N_96, "sha256:" + "1" * 64)
    (tmp_path / "drifted.toml").write_text(text)
    status = main(["validator", "run", "--competitions-file", str(tmp_path / "drifted.toml"), "--competitions", "drifted",
                   "--workdir", str(tmp_path / "v"), "--max-rounds", "1"])  # fmt: skip
    assert status == 1
    err = capsys.readouterr().err
    assert "refusing to score" in err and "drifted:" in err
