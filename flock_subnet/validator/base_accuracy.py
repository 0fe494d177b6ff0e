"""The accuracy gate's bar: the competition's base model evaluated on the round's own samples.

A competition with `[accuracy] at_least_base = true` lets no model win that is less accurate
than its base model (`rules.scoring.below_base`). The base model is evaluated once per round,
in the same sandboxed worker pool and on the same samples as the miners' models, and kept in
the evaluation cache under `base:<repo>@<revision>` so a restart does not evaluate it again.
"""

from __future__ import annotations

from loguru import logger

from flock_subnet.rules.competitions import Competition
from flock_subnet.validator.evaluations import RoundEvaluator
from flock_subnet.validator.state import EvalRecord


def base_key(competition: Competition) -> str:
    """The evaluation-cache key of the competition's base model."""
    base = competition.base
    return f"base:{base.repo_id}@{base.tiny or base.revision}"


def base_accuracy(evaluator: RoundEvaluator, competition_id: str, round_block: int, seed: int) -> float | None:
    """The base model's accuracy on the round with `seed`; None when it cannot be evaluated here
    (then the gate bars nobody this round: it is never held against a miner)."""
    competition = evaluator.competitions[competition_id]
    key = base_key(competition)
    record = evaluator.state.get_eval(key, competition_id, round_block)
    if record is not None:
        return record.accuracy
    slot = evaluator.pool.acquire()
    if slot is None:
        return None
    extra: dict[str, object] = {} if evaluator.samples is None else {"samples": evaluator.samples}
    base_dir = evaluator.models.base_dir(competition)
    if competition.base.tiny is None:
        extra["tokenizer_dir"] = base_dir
    try:
        result = slot.worker.evaluate(base_dir, competition_id, seed, timeout_s=evaluator.timeout_s, **extra)
    except Exception as exc:  # our side: the gate is skipped this round
        logger.error("the base model of {} could not be evaluated for the accuracy gate: {}", competition_id, exc)
        return None
    finally:
        slot.note_job()
        evaluator.pool.release(slot)
    evaluator.state.put_eval(
        EvalRecord(
            key, competition_id, round_block, seed, float(result.loss), samples=result.samples, tokens=result.tokens,
            seconds=result.seconds, tokens_per_s=result.tokens_per_s, per_task=dict(result.per_task),
            accuracy=result.accuracy, accuracy_per_task=dict(result.accuracy_per_task),
        )
    )
    logger.info("base model of {} on round {}: accuracy {}", competition_id, round_block, result.accuracy)
    return result.accuracy
