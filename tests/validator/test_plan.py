"""Round planning and retry rules: pure functions over chain data."""

from __future__ import annotations

import pytest

from flock_subnet.chain.base import ChainUnavailable, CommitmentRecord, Metagraph, NeuronInfo
from flock_subnet.errors import Fault
from flock_subnet.hub.base import HubUnavailable, RateLimited, RepoNotFound
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.validator import plan
from flock_subnet.validator.faults import Backoff, ValidatorFault, is_validator_fault, retry
from flock_subnet.validator.weights import blocks_until_allowed


def _neuron(uid: int, hotkey: str) -> NeuronInfo:
    return NeuronInfo(uid, hotkey, "cold", 0, False, 0.0, 0.0, 0, 0, 0)


def _commitment(competition: str = "local", repo: str = "alice/tiny") -> str:
    return protocol.encode(protocol.ModelReference(repo, "a" * 40, "b" * 64, competition))


def test_round_start_is_genesis_aligned():
    assert plan.round_start(0, 10) == 0
    assert plan.round_start(9, 10) == 0
    assert plan.round_start(10, 10) == 10
    assert plan.round_start(12345, 360) == 12240
    with pytest.raises(ValueError):
        plan.round_start(5, 0)


def test_eligibility_uses_the_eval_delay():
    assert plan.is_eligible(commit_block=9, round_block=10, eval_delay=1)
    assert not plan.is_eligible(commit_block=10, round_block=10, eval_delay=1)
    assert plan.is_eligible(commit_block=10, round_block=10, eval_delay=0)


def test_plan_submissions_classifies_every_uid():
    metagraph = Metagraph(1, 30, tuple(_neuron(uid, f"hk{uid}") for uid in range(6)))
    commitments = {
        "hk1": CommitmentRecord("hk1", _commitment(), 5),
        "hk2": CommitmentRecord("hk2", _commitment(), 20),  # too late for round 20 (delay 1)
        "hk3": CommitmentRecord("hk3", "alice/tiny:1:deadbeef", 5),  # FLock-style, not ours
        "hk4": CommitmentRecord("hk4", _commitment("qwen05b"), 5),  # a competition we do not score
        "hk5": CommitmentRecord("hk5", _commitment(), 19),
    }
    plans = plan.plan_submissions(metagraph, commitments, {"local": LOCAL}, {"local": 20})
    statuses = {p.uid: p.status for p in plans}
    assert statuses == {
        0: plan.PlanStatus.NO_COMMITMENT,
        1: plan.PlanStatus.ELIGIBLE,
        2: plan.PlanStatus.PENDING,
        3: plan.PlanStatus.MALFORMED,
        4: plan.PlanStatus.UNKNOWN_COMPETITION,
        5: plan.PlanStatus.ELIGIBLE,
    }
    assert [p.status.value for p in plans] == [
        "no_commitment", "eligible", "pending", "malformed", "unknown_competition", "eligible"
    ]  # the values the state file and W&B hold
    by_uid = {p.uid: p for p in plans}
    assert by_uid[1].reference.repo_id == "alice/tiny" and by_uid[1].key == ("hk1", "a" * 40)
    assert "eligible from the next round" in by_uid[2].detail
    assert "unknown commitment format" in by_uid[3].detail and by_uid[3].competition_id is None
    assert by_uid[0].key is None


def test_validator_faults_are_told_apart_from_miner_faults():
    from flock_subnet.evaluation.errors import EvaluatorFault, ModelFault
    from flock_subnet.hub.base import IntegrityError, Unauthorized

    assert HubUnavailable.fault is Fault.VALIDATOR and EvaluatorFault.fault is Fault.VALIDATOR
    assert RepoNotFound.fault is Fault.MINER and ModelFault.fault is Fault.MINER
    assert is_validator_fault(IntegrityError("the hub served other bytes"))
    assert not is_validator_fault(Unauthorized("private repo"))
    assert is_validator_fault(HubUnavailable("503"))
    assert is_validator_fault(RateLimited("429", retry_after=1))
    assert is_validator_fault(ChainUnavailable("socket closed"))
    assert is_validator_fault(EvaluatorFault("worker timed out"))
    assert not is_validator_fault(RepoNotFound("gone"))
    assert not is_validator_fault(ModelFault("nan loss"))
    assert not is_validator_fault(ValueError("bug"))


def test_retry_backs_off_then_succeeds():
    sleeps: list[float] = []
    calls = iter([HubUnavailable("503"), RateLimited("429", retry_after=3.0), "ok"])

    def call():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert retry(call, "listing", Backoff(attempts=3, base_s=1.0, max_s=10.0), sleep=sleeps.append) == "ok"
    assert len(sleeps) == 2
    assert 1.0 <= sleeps[0] <= 1.1  # base delay (+ up to 10 % jitter)
    assert 3.0 <= sleeps[1] <= 3.3  # the hub's Retry-After wins over 2 s


def test_retry_gives_up_and_never_retries_miner_faults():
    sleeps: list[float] = []

    def down():
        raise ChainUnavailable("no answer")

    with pytest.raises(ChainUnavailable):
        retry(down, "block", Backoff(attempts=3, base_s=0.5), sleep=sleeps.append)
    assert len(sleeps) == 2

    def missing():
        raise RepoNotFound("no such repo")

    with pytest.raises(RepoNotFound):
        retry(missing, "listing", Backoff(attempts=5, base_s=0.5), sleep=sleeps.append)
    assert len(sleeps) == 2
    assert is_validator_fault(ValidatorFault("x"))


def test_weights_rate_limit_rule_matches_the_chain():
    assert blocks_until_allowed(block=100, last_set=0, rate_limit=100) == 0  # never set
    assert blocks_until_allowed(block=150, last_set=100, rate_limit=100) == 50
    assert blocks_until_allowed(block=200, last_set=100, rate_limit=100) == 0
    assert blocks_until_allowed(block=100, last_set=100, rate_limit=0) == 0


def test_model_store_cleanup_keeps_only_referenced_models(tmp_path, local_hub):
    from flock_subnet.validator.models import ModelStore
    from flock_subnet.validator.state import ValidatorState

    with ValidatorState(tmp_path / "state.db") as state:
        store = ModelStore(local_hub.client(None), state, tmp_path / "models")
        try:
            for hotkey, revision in [("hkA", "r1"), ("hkA", "r2"), ("hkB", "r3")]:
                folder = tmp_path / "models" / hotkey / revision
                folder.mkdir(parents=True)
                (folder / "model.safetensors").write_bytes(b"x")
            assert store.cleanup({("hkA", "r2")}) == 2
            assert sorted(p.relative_to(tmp_path / "models").as_posix() for p in (tmp_path / "models").rglob("*")) == [
                "hkA", "hkA/r2", "hkA/r2/model.safetensors",
            ]
        finally:
            store.close()
