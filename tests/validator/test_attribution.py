"""Whose fault is it, through a real round on the local chain and hub: a miner cannot make the
validator blame itself for the miner's own bytes, whatever names, refs or config text it uses.

Each miner had won before (EMA 0.5). A failure the validator blames on itself would hold that
share; every case here must instead score zero.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from flock_subnet.evaluation.errors import EvaluatorFault
from flock_subnet.evaluation.warm import WarmWorker
from flock_subnet.models import checkpoint
from flock_subnet.models.params import model_shape, parameter_count
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.validator.report import EvalStatus
from flock_subnet.validator.service import Validator
from flock_subnet.validator.state import ValidatorState
from tests.fixtures.chain import NETUID
from tests.validator.conftest import fast_config


def _variant(base: Path, dest: Path, **config_changes: object) -> Path:
    shutil.copytree(base, dest)
    config = json.loads((dest / "config.json").read_text())
    config.update(config_changes)
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    return dest


def _seed_scores(subnet, workdir: Path, names: list[str]) -> None:
    with ValidatorState(workdir / "state.db") as state:
        hotkeys = {subnet.uids[n]: subnet.wallets[n].hotkey.ss58_address for n in names}
        state.set_ema("local", {subnet.uids[n]: 0.5 for n in names}, hotkeys, 0)


def _commit_revision(subnet, name: str, repo_id: str, revision: str, model_dir: Path) -> None:
    salted = checkpoint.salted_hash(checkpoint.content_hash(model_dir), subnet.wallets[name].hotkey.ss58_address)
    subnet.commit(name, protocol.encode(protocol.ModelReference(repo_id, revision, salted, LOCAL.id)))


def test_miner_controlled_names_refs_and_config_text_are_the_miners_fault(make_subnet, local_base_dir, tmp_path):
    subnet = make_subnet()
    subnet.add_validator("val")
    names = ["text", "filename", "shadow"]
    for name in names:
        subnet.add_miner(name)
    # a config value whose error message reads like the validator running out of memory
    subnet.publish("text", "alice", _variant(local_base_dir, tmp_path / "text", hidden_act="out of memory"), "oom-text")
    # a listed file name the download path cannot write as a plain file
    odd = _variant(local_base_dir, tmp_path / "filename")
    (odd / "c:extra.safetensors").write_bytes((odd / "model.safetensors").read_bytes())
    client = subnet.hub.client("bob")
    sha = client.upload(odd, "bob/odd-name", private=False)
    _commit_revision(subnet, "filename", "bob/odd-name", sha, local_base_dir)
    # a branch named like a commit id, so the committed "revision" resolves to another commit (the
    # local hub's API refuses such names; a hub that allows them is played through its store)
    sha = client.upload(local_base_dir, "bob/shadow", private=False)
    fake = "f" * 40
    store = subnet.hub.server.store
    store.set_ref(store.get_repo("model", "bob", "shadow"), "branch", fake, sha)
    _commit_revision(subnet, "shadow", "bob/shadow", fake, local_base_dir)
    subnet.advance_to_next_round()

    workdir = tmp_path / "val"
    _seed_scores(subnet, workdir, names)
    validator = subnet.validator("val", workdir)
    try:
        report = validator.run_round()
        uid = subnet.uids
        for name in names:
            assert report.uids[uid[name]].status == EvalStatus.MINER_FAULT, (name, report.uids[uid[name]].detail)
        assert "hidden_act" in report.uids[uid["text"]].detail
        assert "c:extra.safetensors" in report.uids[uid["filename"]].detail
        assert "named like a commit id" in report.uids[uid["shadow"]].detail
        assert validator.state.ema("local") == {uid[n]: 0.25 for n in names}  # decays (alpha 0.5), never held
    finally:
        validator.close()


def test_a_shape_over_the_cost_budget_is_refused_at_admission(make_subnet, local_base_dir, tmp_path):
    base_config = json.loads((local_base_dir / "config.json").read_text())
    tight = dataclasses.replace(LOCAL, max_parameters=parameter_count(model_shape(base_config)))
    # the same tensors (heads x head_dim = hidden), but 64 heads: attention scores 16 times the base's
    hostile = _variant(local_base_dir, tmp_path / "heads", num_attention_heads=128, num_key_value_heads=128, head_dim=2)
    subnet = make_subnet()
    subnet.add_validator("val")
    subnet.add_miner("heads")
    subnet.publish("heads", "alice", hostile, "many-heads")
    subnet.advance_to_next_round()
    workdir = tmp_path / "val"
    _seed_scores(subnet, workdir, ["heads"])
    validator = Validator(
        subnet.chain, subnet.hub.client(None), subnet.wallets["val"], NETUID, [tight], workdir,
        config=fast_config(subnet.cache_dir),
    )
    try:
        report = validator.run_round()
    finally:
        validator.close()
    outcome = report.uids[subnet.uids["heads"]]
    assert outcome.status == EvalStatus.MINER_FAULT and "MiB" in outcome.detail and "activations" in outcome.detail
    assert validator.evaluator.control_runs == 0  # refused before any evaluation


def test_a_resource_failure_is_the_miners_when_the_base_model_passes(make_subnet, local_base_dir, tmp_path, monkeypatch):
    hostile = _variant(local_base_dir, tmp_path / "hostile", rms_norm_eps=1e-5)  # admitted, distinct content
    subnet = make_subnet()
    subnet.add_validator("val")
    subnet.add_miner("hostile")
    subnet.add_miner("honest")
    subnet.publish("hostile", "alice", hostile, "hostile")
    subnet.publish("honest", "bob", local_base_dir, "honest")
    subnet.advance_to_next_round()
    hostile_hotkey = subnet.wallets["hostile"].hotkey.ss58_address
    real = WarmWorker.evaluate
    attempts: list[str] = []

    def evaluate(self, model_dir, *args, **kwargs):  # the hostile model exhausts the worker every time
        if hostile_hotkey in str(model_dir):
            attempts.append(str(model_dir))
            raise EvaluatorFault("the evaluation worker was killed by SIGKILL (out of memory?)")
        return real(self, model_dir, *args, **kwargs)

    monkeypatch.setattr(WarmWorker, "evaluate", evaluate)
    workdir = tmp_path / "val"
    _seed_scores(subnet, workdir, ["hostile"])
    validator = subnet.validator("val", workdir)
    try:
        report = validator.run_round()
        outcome = report.uids[subnet.uids["hostile"]]
        assert outcome.status == EvalStatus.MINER_FAULT and "base model passes" in outcome.detail
        assert report.uids[subnet.uids["honest"]].status == EvalStatus.EVALUATED
        assert len(attempts) == 2  # one more try once the control passed, then the miner's fault
        assert validator.evaluator.control_runs == 1
        assert validator.state.ema("local")[subnet.uids["hostile"]] == 0.25  # decays, never held
        assert validator.state.get_eval(outcome.content_hash, "local", report.round_block).loss is None  # cached
    finally:
        validator.close()
