"""The fine-tuning loop: `train(config) -> TrainResult`.

Full fine-tuning or LoRA, AdamW with warmup and cosine decay, gradient accumulation over
length-bucketed micro-batches, loss on answer tokens only, bf16 autocast on GPU and fp32 on
CPU. Every `save_every` optimizer steps (and when stopped) the complete state is saved, so a
killed run continues at the same step with the same optimizer moments and the same next batch.
Stops at the first budget reached (steps, seconds, epochs); exports a standard checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet.config import resolve_cache_dir
from flock_subnet.miner.training.batching import bucket_batches
from flock_subnet.miner.training.config import SUMMARY_FILE, TrainConfig, TrainingError, TrainResult
from flock_subnet.miner.training.dataset import encode_samples, load_samples, split_holdout
from flock_subnet.miner.training.export import export_model
from flock_subnet.miner.training.loss import answer_loss_sum, collate
from flock_subnet.miner.training.schedule import learning_rate, progress_fraction
from flock_subnet.miner.training.state import Position, latest_state, load_state, save_state
from flock_subnet.rules.competitions import Competition, get_competition
from flock_subnet.telemetry import WandbRun, progress_bar, start_wandb_run

_RECENT = 20  # optimizer steps in the running train loss


def default_learning_rate(competition: Competition, lora: bool) -> float:
    """A sensible peak rate when none is given: high for tiny models, low for full fine-tunes of real ones."""
    if lora:
        return 2e-3 if competition.base.tiny else 2e-4
    return 1e-3 if competition.base.tiny else 2e-5


def pick_device(requested: str | None) -> str:
    import torch

    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_base_dir(config: TrainConfig, hub: Any = None) -> Path:
    """The checkpoint training starts from: `init_model_dir`, else the competition's base."""
    if config.init_model_dir is not None:
        if not (config.init_model_dir / "config.json").is_file():
            raise TrainingError(f"{config.init_model_dir} is not a checkpoint folder (no config.json)")
        return config.init_model_dir
    from flock_subnet.models.tiny import base_model_dir

    return base_model_dir(get_competition(config.competition), resolve_cache_dir(config.cache_dir), hub=hub)


def _load_model(base_dir: Path, config: TrainConfig, device: str) -> tuple[Any, int]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, local_files_only=True)
    model.config.use_cache = False
    if config.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_targets,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    model.to(device)
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model, trainable


def _core(model: Any) -> Any:
    """The transformers model that runs the forward pass (inside a peft wrapper when LoRA is on)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class _LossMeter:
    """Step losses kept on the device until a value is needed, so most steps never wait for the GPU."""

    def __init__(self) -> None:
        self._pending: list[tuple[Any, int]] = []

    def add(self, loss_sum: Any, answer_tokens: int) -> None:
        self._pending.append((loss_sum, answer_tokens))

    def flush(self, position: Position) -> float:
        """Move pending losses into `position`; returns the newest step's mean loss (NaN if none)."""
        if not self._pending:
            return position.recent_losses[-1] if position.recent_losses else float("nan")
        import torch

        sums = torch.stack([loss for loss, _ in self._pending]).float().tolist()
        for total, (_, tokens) in zip(sums, self._pending):
            position.loss_sum += total
            position.recent_losses.append(total / tokens)
        position.recent_losses = position.recent_losses[-_RECENT:]
        self._pending.clear()
        return position.recent_losses[-1]


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def train(
    config: TrainConfig,
    wandb_run: WandbRun | None = None,
    hub: Any = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Fine-tune, checkpoint, export to `config.model_dir`; see the module docstring."""
    import torch
    from transformers import AutoTokenizer

    competition = get_competition(config.competition)
    device = pick_device(config.device)
    base_dir = resolve_base_dir(config, hub=hub)
    checkpoint_dir = config.checkpoint_dir
    previous = latest_state(checkpoint_dir) if checkpoint_dir.is_dir() else None
    if previous is not None and not config.resume:
        raise TrainingError(
            f"{config.output_dir} already holds a training run ({previous.name}); "
            "pass --resume to continue it or choose another --output-dir"
        )
    random.seed(config.seed)
    torch.manual_seed(config.seed)

    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    max_length = config.max_length or competition.sequence_length
    samples = load_samples(competition, config.data_file, config.num_samples, config.data_seed)
    train_samples, held_out = split_holdout(samples, config.eval_fraction, config.data_seed)
    data = encode_samples(tokenizer, train_samples, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    lengths = data.lengths

    model, trainable = _load_model(base_dir, config, device)
    params = [p for p in model.parameters() if p.requires_grad]
    base_lr = config.lr if config.lr is not None else default_learning_rate(competition, config.lora)
    optimizer = torch.optim.AdamW(
        params, lr=base_lr, betas=config.betas, weight_decay=config.weight_decay, fused=device.startswith("cuda")
    )
    fingerprint = config.fingerprint()
    position = Position()
    resumed_from = None
    if previous is not None:
        position = load_state(previous, model, optimizer, fingerprint)
        resumed_from = position.step
        logger.info("resuming from {} (step {}, epoch {}, batch {})", previous, position.step, position.epoch, position.batch)

    core = _core(model)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()
    )
    own_run = wandb_run is None and config.wandb is not None
    if own_run:
        run = start_wandb_run(config.wandb, name=f"train-{config.output_dir.name}", config=config.to_dict(), job_type="train")
    else:
        run = wandb_run or WandbRun(None)
    plan = bucket_batches(lengths, config.batch_tokens, config.seed, position.epoch, config.max_batch_size)
    if len(plan) == 0:
        raise TrainingError("no batches to train on")
    max_batches = math.ceil(config.epochs * len(plan)) if config.epochs else None
    logger.info(
        "training {} samples ({} dropped) in {} micro-batches per epoch, padding efficiency {:.1%}, {} trainable parameters on {}",
        len(data), data.dropped, len(plan), plan.efficiency, trainable, device,
    )
    bar = _progress_bar(config, position.step)
    show_bar = bar is not None and not bar.disable
    meter = _LossMeter()
    session_start = time.perf_counter()
    start_elapsed = position.elapsed_s
    session_tokens = 0
    stopped_by = "steps"

    def elapsed() -> float:
        return start_elapsed + time.perf_counter() - session_start

    def next_micro_batches() -> list[tuple[int, ...]]:
        nonlocal plan
        chosen = []
        while len(chosen) < config.grad_accum:
            done = position.epoch * len(plan) + position.batch
            if max_batches is not None and done >= max_batches:
                break
            if position.batch >= len(plan):
                position.epoch += 1
                position.batch = 0
                plan = bucket_batches(lengths, config.batch_tokens, config.seed, position.epoch, config.max_batch_size)
                continue
            chosen.append(plan.batches[position.batch])
            position.batch += 1
        return chosen

    try:
        while True:
            if config.max_steps and position.step >= config.max_steps:
                raise _Stop("steps")
            if config.max_seconds and elapsed() >= config.max_seconds:
                raise _Stop("seconds")
            micro = next_micro_batches()
            if not micro:
                raise _Stop("epochs")
            step_answer_tokens = sum(data.answer_tokens[i] for batch in micro for i in batch)
            lr = learning_rate(
                base_lr,
                position.step,
                progress_fraction(position.step, elapsed(), config.max_steps, config.max_seconds),
                config.warmup_steps,
                config.min_lr_ratio,
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss = None
            for batch in micro:
                tensors = collate([data.input_ids[i] for i in batch], [data.scored[i] for i in batch], pad_id, device)
                with autocast:
                    loss_sum = answer_loss_sum(core, tensors)
                (loss_sum / step_answer_tokens).backward()
                step_loss = loss_sum.detach() if step_loss is None else step_loss + loss_sum.detach()
                batch_tokens = sum(lengths[i] for i in batch)
                position.tokens += batch_tokens
                session_tokens += batch_tokens
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            position.step += 1
            position.loss_tokens += step_answer_tokens
            meter.add(step_loss, step_answer_tokens)
            position.elapsed_s = elapsed()
            log_now = bool(config.log_every) and (position.step % config.log_every == 0 or position.step == config.max_steps)
            save_now = bool(config.save_every) and position.step % config.save_every == 0
            if not (log_now or save_now or on_step is not None or show_bar):
                continue  # no value is needed now: no device sync
            mean_loss = meter.flush(position)
            if bar is not None:
                bar.update(position.step - bar.n)
                bar.set_postfix(loss=f"{mean_loss:.3f}", refresh=False)
            record = {
                "train/loss": mean_loss,
                "train/lr": lr,
                "train/tokens": position.tokens,
                "train/tokens_per_s": session_tokens / max(1e-9, time.perf_counter() - session_start),
                "train/epoch": position.epoch + position.batch / len(plan),
            }
            if on_step is not None:
                on_step({"step": position.step, **record})
            if log_now:
                run.log(record, step=position.step)
                logger.debug("step {} loss {:.4f} lr {:.2e}", position.step, mean_loss, lr)
            if save_now:
                save_state(checkpoint_dir, model, optimizer, position, fingerprint, config.keep_checkpoints)
    except _Stop as stop:
        stopped_by = stop.reason
    except KeyboardInterrupt:
        position.elapsed_s = elapsed()
        meter.flush(position)
        save_state(checkpoint_dir, model, optimizer, position, fingerprint, config.keep_checkpoints)
        logger.warning("interrupted at step {}; the state is saved, rerun with --resume to continue", position.step)
        raise
    finally:
        if bar is not None:
            bar.close()
    meter.flush(position)
    session_seconds = time.perf_counter() - session_start
    position.elapsed_s = elapsed()
    if position.step > 0:
        save_state(checkpoint_dir, model, optimizer, position, fingerprint, config.keep_checkpoints)
    model_dir, digest = export_model(model, base_dir, config.model_dir)
    eval_loss = None
    if held_out:
        from flock_subnet.evaluation import evaluate_loss

        eval_loss = float(evaluate_loss(model_dir, held_out, competition, device=device).loss)
    recent = position.recent_losses
    result = TrainResult(
        output_dir=model_dir,
        steps=position.step,
        tokens=position.tokens,
        train_loss=(sum(recent) / len(recent)) if recent else float("nan"),
        seconds=session_seconds,
        tokens_per_s=session_tokens / session_seconds if session_seconds > 0 else 0.0,
        resumed_from_step=resumed_from,
        stopped_by=stopped_by,
        eval_loss=eval_loss,
        checkpoint_dir=checkpoint_dir,
        trainable_parameters=trainable,
        padding_efficiency=plan.efficiency,
    )
    result.write(config.output_dir / SUMMARY_FILE)
    run.log({"train/final_loss": result.train_loss, **({"train/eval_loss": eval_loss} if eval_loss is not None else {})}, step=position.step)
    run.summary({"content_hash": digest, **result.to_dict()})
    if own_run:
        run.finish()
    logger.info(
        "trained {} steps ({} tokens, {:.0f} tok/s), loss {:.4f}; model in {}",
        result.steps, result.tokens, result.tokens_per_s, result.train_loss, model_dir,
    )
    return result


def _progress_bar(config: TrainConfig, initial: int) -> Any:
    if not config.progress_bar:
        return None
    return progress_bar(config.max_steps, "training", unit="step", initial=initial)
