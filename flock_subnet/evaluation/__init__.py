"""Evaluation: admission checks and the sandboxed, batched, answer-only loss evaluator.

Public API (imported lazily, so `import flock_subnet.evaluation` stays cheap):
- `evaluate_loss(model_dir, samples, competition, device=None) -> EvalResult` (in process)
- `evaluate_in_sandbox(model_dir, competition_id, seed, timeout_s=..., memory_limit_mb=None)`
  (a separate worker process); `WarmWorker` keeps one such worker for many models
- `EvalResult`, `ModelFault`, `EvaluatorFault`
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "evaluate_loss": "flock_subnet.evaluation.loss",
    "score_encoded": "flock_subnet.evaluation.loss",
    "load_model": "flock_subnet.evaluation.loss",
    "evaluate_in_sandbox": "flock_subnet.evaluation.sandbox",
    "WarmWorker": "flock_subnet.evaluation.warm",
    "EvalResult": "flock_subnet.evaluation.result",
    "EvaluationError": "flock_subnet.evaluation.errors",
    "ModelFault": "flock_subnet.evaluation.errors",
    "EvaluatorFault": "flock_subnet.evaluation.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flock_subnet.evaluation' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
