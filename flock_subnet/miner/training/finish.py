"""The end of a training run: the last state saved, the model exported, the summary written.

The export is a standard checkpoint (`export.py`); with held-out samples the exported model is
scored on them with the validators' evaluator. `TrainResult` goes to `train_summary.json`, to
W&B and back to the caller. With several ranks every rank saves the last state together (FSDP
gathers the weights), rank 0 alone exports, evaluates and writes the summary, and the other
ranks get the same result back without touching the files.
"""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from flock_subnet.miner.training.batching import BatchPlan
from flock_subnet.miner.training.config import SUMMARY_FILE, TrainResult
from flock_subnet.miner.training.export import export_model
from flock_subnet.miner.training.progress import SessionClock
from flock_subnet.miner.training.setup import TrainingSetup
from flock_subnet.miner.training.stopping import StopReason
from flock_subnet.telemetry import WandbRun


def finish(
    setup: TrainingSetup, stopped_by: StopReason, plan: BatchPlan, clock: SessionClock, run: WandbRun, own_run: bool
) -> TrainResult:
    """Save, export and evaluate the trained model; write and log the run's summary."""
    config, position = setup.config, setup.position
    session_seconds = clock.seconds()
    position.elapsed_s = clock.elapsed()
    if position.step > 0:
        setup.checkpoint()
    model_dir, digest = _export(setup)
    eval_loss = None
    if setup.held_out and setup.ranks.is_main:
        from flock_subnet.evaluation import evaluate_loss

        eval_loss = float(evaluate_loss(model_dir, setup.held_out, setup.competition, device=setup.device).loss)
    recent = position.recent_losses
    result = TrainResult(
        output_dir=model_dir,
        steps=position.step,
        tokens=position.tokens,
        train_loss=(sum(recent) / len(recent)) if recent else float("nan"),
        seconds=session_seconds,
        tokens_per_s=clock.tokens / session_seconds if session_seconds > 0 else 0.0,
        resumed_from_step=setup.resumed_from,
        stopped_by=stopped_by.value,
        eval_loss=eval_loss,
        checkpoint_dir=config.checkpoint_dir,
        trainable_parameters=setup.trainable,
        padding_efficiency=plan.efficiency,
        world_size=setup.ranks.world_size,
        parallel=setup.parallel.value if setup.ranks.enabled else None,
    )
    if not setup.ranks.is_main:
        return result
    result.write(config.output_dir / SUMMARY_FILE)
    final = {"train/final_loss": result.train_loss}
    if eval_loss is not None:
        final["train/eval_loss"] = eval_loss
    run.log(final, step=position.step)
    run.summary({"content_hash": digest, **result.to_dict()})
    if own_run:
        run.finish()
    logger.info(
        "trained {} steps ({} tokens, {:.0f} tok/s), loss {:.4f}; model in {}",
        result.steps, result.tokens, result.tokens_per_s, result.train_loss, model_dir,
    )
    return result


def _export(setup: TrainingSetup) -> tuple[Path, str | None]:
    """Rank 0 exports the trained model (FSDP: its full weights, gathered from every rank into a fresh copy)."""
    config = setup.config
    if setup.sharded:
        from flock_subnet.miner.training.parallel import full_model_weights
        from flock_subnet.miner.training.setup import forward_model, load_model

        weights = full_model_weights(setup.engine)  # every rank takes part in gathering
        if not setup.ranks.is_main:
            return config.model_dir, None
        whole = load_model(setup.base_dir, config, "cpu")
        forward_model(whole).load_state_dict(weights)
        return export_model(whole, setup.base_dir, config.model_dir)
    if not setup.ranks.is_main:
        return config.model_dir, None
    return export_model(setup.model, setup.base_dir, config.model_dir)
