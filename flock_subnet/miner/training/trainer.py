"""The fine-tuning loop: `train(config) -> TrainResult`.

Full fine-tuning or LoRA, AdamW with warmup and cosine decay, gradient accumulation over
length-bucketed micro-batches, loss on answer tokens only, bf16 autocast on GPU and fp32 on
CPU. The pieces, in the order a run meets them:

- `setup.prepare`: device, base checkpoint, model, data, optimizer, and the saved state when resuming;
- before every step `stopping.stop_reason` decides whether to go on (steps, seconds, epochs, a stop request);
- `step.optimisation_step` takes one optimizer step; `progress.StepReporter` shows it;
- every `save_every` steps the complete state is saved, so a killed run continues at the same
  step with the same optimizer moments and the same next batch;
- `finish.finish` saves the last state, exports a standard checkpoint and writes the summary.

SIGTERM or Ctrl-C (`interrupt.py`) ends the loop after the step in progress: the state is saved
and `TrainingInterrupted` (a `KeyboardInterrupt`) is raised, so the command exits with 130.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from flock_subnet.miner.training.batching import BatchPlan, Cursor, bucket_batches, draw_micro_batches
from flock_subnet.miner.training.config import TrainConfig, TrainingError, TrainingInterrupted, TrainResult
from flock_subnet.miner.training.distributed import agree
from flock_subnet.miner.training.finish import finish
from flock_subnet.miner.training.interrupt import stop_on_signals
from flock_subnet.miner.training.progress import SessionClock, StepReporter, is_due
from flock_subnet.miner.training.schedule import learning_rate, progress_fraction
from flock_subnet.miner.training.setup import TrainingSetup, prepare
from flock_subnet.miner.training.step import optimisation_step
from flock_subnet.miner.training.stopping import StopReason, stop_reason
from flock_subnet.telemetry import WandbRun, start_wandb_run


def train(
    config: TrainConfig,
    wandb_run: WandbRun | None = None,
    hub: Any = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Fine-tune, checkpoint, export to `config.model_dir`; see the module docstring."""
    setup = prepare(config, hub=hub)
    main = setup.ranks.is_main
    if not main:  # rank 0 alone logs, shows progress and reports
        wandb_run, on_step = WandbRun(None), None
    own_run = main and wandb_run is None and config.wandb is not None
    if own_run:
        run = start_wandb_run(config.wandb, name=f"train-{config.output_dir.name}", config=config.to_dict(), job_type="train")
    else:
        run = wandb_run or WandbRun(None)
    plan_for_epoch = functools.partial(
        bucket_batches, setup.data.lengths, config.batch_tokens, config.seed, max_batch_size=config.max_batch_size
    )
    cursor = Cursor(setup.position.epoch, setup.position.batch, plan_for_epoch(setup.position.epoch))
    if len(cursor.plan) == 0:
        raise TrainingError("no batches to train on")
    max_batches = math.ceil(config.epochs * len(cursor.plan)) if config.epochs else None
    if main:
        logger.info(
            "training {} samples ({} dropped) in {} micro-batches per epoch, padding efficiency {:.1%}, {} trainable parameters on {}{}",
            len(setup.data), setup.data.dropped, len(cursor.plan), cursor.plan.efficiency, setup.trainable, setup.device,
            f" x {setup.ranks.world_size} ranks ({setup.parallel.value})" if setup.ranks.enabled else "",
        )
    clock = SessionClock(earlier_s=setup.position.elapsed_s)
    reporter = StepReporter(config, run, on_step, setup.position.step, show=main)
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            reason, cursor = _loop(setup, cursor, max_batches, plan_for_epoch, reporter, clock, stop)
    finally:
        reporter.close()
    reporter.meter.flush(setup.position)
    if reason is StopReason.INTERRUPTED:
        setup.position.elapsed_s = clock.elapsed()
        setup.checkpoint()
        interrupted = TrainingInterrupted(setup.position.step)
        if main:
            logger.warning("{}", interrupted)
        raise interrupted
    return finish(setup, reason, cursor.plan, clock, run, own_run)


def _loop(
    setup: TrainingSetup,
    cursor: Cursor,
    max_batches: int | None,
    plan_for_epoch: Callable[[int], BatchPlan],
    reporter: StepReporter,
    clock: SessionClock,
    stop: threading.Event,
) -> tuple[StopReason, Cursor]:
    """Optimizer steps until `stop_reason` gives a reason; returns it and the cursor of the last batch read."""
    config, position = setup.config, setup.position
    ranks = setup.ranks
    while True:
        micro, after = draw_micro_batches(cursor, config.grad_accum, max_batches, plan_for_epoch)
        stop_requested, elapsed = stop.is_set(), clock.elapsed()
        if ranks.enabled:  # every rank must stop after the same step and use the same schedule
            stop_requested, elapsed = agree(stop_requested, elapsed, ranks, setup.device)
        reason = stop_reason(
            step=position.step,
            elapsed_s=elapsed,
            max_steps=config.max_steps,
            max_seconds=config.max_seconds,
            data_left=bool(micro),
            stop_requested=stop_requested,
        )
        if reason is not None:
            return reason, cursor
        cursor = after
        position.epoch, position.batch = cursor.epoch, cursor.batch
        now = elapsed if ranks.enabled else clock.elapsed()
        progress = progress_fraction(position.step, now, config.max_steps, config.max_seconds)
        lr = learning_rate(setup.base_lr, position.step, progress, config.warmup_steps, config.min_lr_ratio)
        outcome = optimisation_step(setup, micro, lr)
        position.step += 1
        position.tokens += outcome.tokens
        position.loss_tokens += outcome.answer_tokens
        clock.tokens += outcome.tokens
        position.elapsed_s = clock.elapsed()
        reporter.after_step(position, outcome, lr, cursor.epoch_progress, clock)
        if is_due(position.step, config.save_every):
            reporter.meter.flush(position)
            setup.checkpoint()
