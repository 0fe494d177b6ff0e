"""The sandboxed worker: same result as in process; model faults vs evaluator faults."""

from __future__ import annotations

import json
import signal

import pytest

from flock_subnet.errors import Fault
from flock_subnet.evaluation import EvaluatorFault, ModelFault, evaluate_in_sandbox, evaluate_loss
from flock_subnet.evaluation.sandbox import _outcome
from flock_subnet.evaluation.worker import WorkerStatus, _classify
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.rules.data import hidden_samples
from tests.evaluation.eval_helpers import altered_copy


def test_sandbox_returns_the_in_process_result(tiny_model_dir):
    sandboxed = evaluate_in_sandbox(tiny_model_dir, "local", 77, timeout_s=300, memory_limit_mb=8192, samples=24, device="cpu")
    in_process = evaluate_loss(tiny_model_dir, hidden_samples(LOCAL, 77, n=24), LOCAL, device="cpu")
    assert sandboxed.loss == pytest.approx(in_process.loss, abs=1e-6)
    assert sandboxed.per_task == pytest.approx(in_process.per_task, abs=1e-6)
    assert (sandboxed.samples, sandboxed.tokens, sandboxed.answer_tokens) == (
        in_process.samples, in_process.tokens, in_process.answer_tokens
    )


def test_nan_model_in_the_sandbox_is_a_model_fault(tiny_model_dir, tmp_path):
    def poison(weights):
        weights["model.layers.1.mlp.down_proj.weight"][0, 0] = float("inf")
        weights["model.norm.weight"][:] = float("nan")

    broken = altered_copy(tiny_model_dir, tmp_path / "nan", poison)
    with pytest.raises(ModelFault, match="not finite") as info:
        evaluate_in_sandbox(broken, "local", 1, timeout_s=300, samples=8, device="cpu")
    assert info.value.fault is Fault.MINER


def test_a_timeout_is_an_evaluator_fault(tiny_model_dir):
    with pytest.raises(EvaluatorFault, match="timed out") as info:
        evaluate_in_sandbox(tiny_model_dir, "local", 1, timeout_s=0.5)
    assert info.value.fault is Fault.VALIDATOR


def test_running_out_of_memory_is_an_evaluator_fault(tiny_model_dir):
    with pytest.raises(EvaluatorFault, match="validator's side"):
        evaluate_in_sandbox(tiny_model_dir, "local", 1, timeout_s=120, memory_limit_mb=64, device="cpu")


def test_worker_outcomes_are_classified(tmp_path):
    result, stderr = tmp_path / "result.json", tmp_path / "stderr.txt"
    stderr.write_text("Traceback ...\nSegmentation fault")
    with pytest.raises(EvaluatorFault, match="SIGKILL"):
        _outcome(-signal.SIGKILL, result, stderr)
    with pytest.raises(EvaluatorFault, match="Segmentation fault"):
        _outcome(1, result, stderr)
    result.write_text(json.dumps({"status": "model_fault", "error": "ModelFault: boom"}))
    with pytest.raises(ModelFault, match="boom"):
        _outcome(1, result, stderr)
    result.write_text(json.dumps({"status": "evaluator_fault", "error": "MemoryError: "}))
    with pytest.raises(EvaluatorFault, match="MemoryError"):
        _outcome(1, result, stderr)


def test_worker_statuses_go_over_the_wire_as_plain_values():
    assert [s.value for s in WorkerStatus] == ["ready", "ok", "model_fault", "evaluator_fault"]
    assert json.dumps({"status": WorkerStatus.MODEL_FAULT}) == '{"status": "model_fault"}'
    assert f"{WorkerStatus.OK}" == "ok"
    assert _classify(ModelFault("broken")) == {"status": "model_fault", "error": "ModelFault: broken"}
    assert _classify(MemoryError())["status"] == "evaluator_fault"


def test_the_memory_cap_is_not_applied_on_cuda():
    from flock_subnet.evaluation.worker import limit_memory, uses_gpu

    assert uses_gpu("cuda") and uses_gpu("cuda:1") and not uses_gpu("cpu")
    assert limit_memory(64, "cuda:0") is False
    assert limit_memory(None, "cpu") is False
