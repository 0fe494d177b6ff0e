"""Competition rules applied by a real validator round on the local chain: schedules (a
competition outside its window is neither planned, evaluated nor weighted) and the accuracy gate
(a model less accurate than the base model cannot win, while ranking stays on loss)."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from flock_subnet.models import checkpoint
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import COMPETITIONS, LOCAL
from flock_subnet.validator.base_accuracy import base_key
from flock_subnet.validator.plan import PlanStatus
from flock_subnet.validator.report import EvalStatus
from flock_subnet.validator.service import Validator
from flock_subnet.validator.state import EvalRecord, ValidatorState
from tests.validator.conftest import fast_config
from tests.fixtures.chain import NETUID

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

GATED_TOML = """
id = "gated"
production = false
architectures = ["LlamaForCausalLM"]
max_parameters = 20_000_000
max_bytes = 209_715_200
sequence_length = 256
samples_per_round = 96
round_length_blocks = 10
eval_delay_blocks = 1
reward_share = 1.0
[base]
repo_id = "flock/tiny-base"
tiny = "small"
[epsilon]
start = 0.02
end = 0.005
decay_blocks = 200
[accuracy]
samples = 4
at_least_base = true
[tasks.reverse]
weight = 1.0
[tasks.brackets]
weight = 1.0
[tasks.sort_digits]
weight = 1.0
"""


@pytest.fixture
def registry(monkeypatch):
    """Competitions a test adds are gone after it."""
    monkeypatch.setattr(COMPETITIONS, "_items", dict(COMPETITIONS._items))
    return COMPETITIONS


def _commit(subnet, name: str, user: str, model_dir, repo: str, competition_id: str) -> None:
    client = subnet.hub.client(user)
    sha = client.upload(model_dir, f"{user}/{repo}", private=True)
    client.set_private(f"{user}/{repo}", False)
    salted = checkpoint.salted_hash(checkpoint.content_hash(model_dir), subnet.wallets[name].hotkey.ss58_address)
    subnet.commit(name, protocol.encode(protocol.ModelReference(f"{user}/{repo}", sha, salted, competition_id)))


def test_an_ended_competition_is_skipped_and_its_weight_dropped(make_subnet, miner_models, tmp_path, registry):
    subnet = make_subnet()
    subnet.add_validator("val")
    alice, bob, carol = subnet.add_miner("alice"), subnet.add_miner("bob"), subnet.add_miner("carol")
    ended = dataclasses.replace(LOCAL, id="archive", end_block=5, reward_share=1.0)
    upcoming = dataclasses.replace(LOCAL, id="future", start_block=10_000, reward_share=1.0)
    subnet.publish("alice", "alice", miner_models["good"], "tiny-good")
    _commit(subnet, "bob", "bob", miner_models["fair"], "tiny-archive", "archive")
    _commit(subnet, "carol", "mallory", miner_models["fair"], "tiny-future", "future")
    round_block = subnet.advance_to_next_round()
    workdir = tmp_path / "val"
    with ValidatorState(workdir / "state.db") as seeded:  # bob won the archive competition while it ran
        seeded.set_ema("archive", {bob: 1.0}, {bob: subnet.wallets["bob"].hotkey.ss58_address}, 0)

    validator = Validator(
        subnet.chain, subnet.hub.client(None), subnet.wallets["val"], NETUID, [LOCAL, ended, upcoming], workdir,
        config=fast_config(subnet.cache_dir, eval_samples=8),
    )
    try:
        assert validator.due_rounds(round_block) == {"local": round_block}
        report = validator.run_round()
    finally:
        validator.close()

    assert [r.competition_id for r in report.rounds] == ["local"]
    assert "ended at block 5" in report.skipped["archive"]
    assert "starts at block 10000" in report.skipped["future"]
    assert report.uids[bob].status == PlanStatus.OFF_SCHEDULE and "ended at block 5" in report.uids[bob].detail
    assert report.uids[carol].status == PlanStatus.OFF_SCHEDULE and "starts at block" in report.uids[carol].detail
    assert report.evaluations_run == 1  # only alice's model: nothing off schedule is evaluated
    assert report.uids[alice].status == EvalStatus.EVALUATED
    # the archive's stored EMA (bob 1.0) no longer counts: all weight goes to the active competition
    assert report.weights[bob] == 0.0 and report.weights[alice] == pytest.approx(1.0)
    with ValidatorState(workdir / "state.db") as state:
        assert state.ema("archive") == {bob: 1.0}  # kept, not rewritten: the competition simply stopped
        assert state.round_progress("archive", round_block) is None


def test_the_accuracy_gate_keeps_a_less_accurate_model_from_winning(
    make_subnet, miner_models, tmp_path, registry, monkeypatch
):
    from flock_subnet.rules.competition_schema import competition_from_dict

    path = tmp_path / "gated.toml"
    path.write_text(GATED_TOML)
    gated = competition_from_dict(tomllib.loads(GATED_TOML), str(path))
    assert gated.require_accuracy_at_least_base
    registry.add(gated, str(path))
    monkeypatch.setenv("FLOCK_COMPETITIONS", str(path))  # the evaluation workers load it too

    subnet = make_subnet()
    subnet.add_validator("val")
    good, fair = subnet.add_miner("good"), subnet.add_miner("fair")
    _commit(subnet, "good", "alice", miner_models["good"], "tiny-good", "gated")
    _commit(subnet, "fair", "bob", miner_models["fair"], "tiny-fair", "gated")
    round_block = subnet.advance_to_next_round()

    def run(workdir, base_accuracy=None):
        if base_accuracy is not None:  # the base model's evaluation of this round, as the cache holds it
            with ValidatorState(workdir / "state.db") as state:
                state.put_eval(EvalRecord(base_key(gated), "gated", round_block, 0, 1.0, accuracy=base_accuracy))
        validator = Validator(
            subnet.chain, subnet.hub.client(None), subnet.wallets["val"], NETUID, [gated], workdir,
            config=fast_config(subnet.cache_dir, eval_samples=8),
        )
        try:
            return validator.run_round()
        finally:
            validator.close()

    measured = run(tmp_path / "measured")  # the validator evaluates the base model itself
    base = measured.rounds[0].base_accuracy
    assert base is not None and 0.0 <= base <= 1.0
    with ValidatorState(tmp_path / "measured" / "state.db") as state:
        assert state.get_eval(base_key(gated), "gated", round_block).accuracy == base
        for uid in (good, fair):
            record = state.get_eval(measured.uids[uid].content_hash, "gated", round_block)
            assert record.accuracy == measured.uids[uid].accuracy is not None
    payload = measured.wandb_payload()
    assert payload["gated/base_accuracy"] == base and f"uid/{good}/accuracy" in payload
    assert measured.uids[good].loss < measured.uids[fair].loss

    # Same round, a base model that answers everything: both models are less accurate, neither wins.
    barred = run(tmp_path / "barred", base_accuracy=1.0)
    assert barred.rounds[0].base_accuracy == 1.0
    assert barred.uids[good].round_weight == 0.0 and "accuracy gate" in barred.uids[good].detail
    assert barred.uids[fair].round_weight == 0.0
    assert barred.uids[good].win_rate == 1.0  # ranking stays on loss
    assert barred.rounds[0].winner is None

    # A base model that answers nothing: the gate lets the lowest loss win.
    open_ = run(tmp_path / "open", base_accuracy=0.0)
    assert open_.rounds[0].winner == good and open_.uids[good].round_weight == 1.0
