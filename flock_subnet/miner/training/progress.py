"""What a training run shows while it runs: losses, progress bar, per-step callback, W&B, debug log.

Step losses stay on the device (`LossMeter`) until a value is needed (a log line, the bar, a
callback, a saved state), so most steps never make the host wait for the GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from flock_subnet.miner.training.config import TrainConfig
from flock_subnet.miner.training.state import Position
from flock_subnet.miner.training.step import StepOutcome
from flock_subnet.telemetry import WandbRun, progress_bar

RECENT_STEPS = 20  # optimizer steps in the running train loss


class LossMeter:
    """Step losses kept on the device until a value is needed."""

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
        position.recent_losses = position.recent_losses[-RECENT_STEPS:]
        self._pending.clear()
        return position.recent_losses[-1]


@dataclass
class SessionClock:
    """This session's time and tokens; `elapsed` adds the time earlier sessions of the run spent."""

    earlier_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    tokens: int = 0

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def elapsed(self) -> float:
        return self.earlier_s + self.seconds()


def is_due(step: int, every: int | None) -> bool:
    """Whether something done every `every` steps (0 or None: never) is due after step `step`."""
    return bool(every) and step % every == 0  # type: ignore[operator]


class StepReporter:
    """After each optimizer step: the loss into the meter, then the bar, the callback and the log."""

    def __init__(
        self,
        config: TrainConfig,
        run: WandbRun,
        on_step: Callable[[dict[str, Any]], None] | None,
        initial_step: int,
        show: bool = True,
    ) -> None:
        """`show=False` (ranks other than 0): keep the losses, show nothing."""
        self.config, self.run, self.on_step = config, run, on_step
        self.meter = LossMeter()
        self.show = show
        with_bar = config.progress_bar and show
        self.bar = progress_bar(config.max_steps, "training", unit="step", initial=initial_step) if with_bar else None
        self._show_bar = self.bar is not None and not self.bar.disable

    def after_step(
        self, position: Position, outcome: StepOutcome, lr: float, epoch_progress: float, clock: SessionClock
    ) -> None:
        """Record the step just taken (`position` already counts it); show what is due."""
        self.meter.add(outcome.loss_sum, outcome.answer_tokens)
        step = position.step
        log_now = self.show and (
            is_due(step, self.config.log_every) or (bool(self.config.log_every) and step == self.config.max_steps)
        )
        if not (log_now or self.on_step is not None or self._show_bar):
            return
        mean_loss = self.meter.flush(position)
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{mean_loss:.3f}", refresh=False)
        record = {
            "train/loss": mean_loss,
            "train/lr": lr,
            "train/tokens": position.tokens,
            "train/tokens_per_s": clock.tokens / max(1e-9, clock.seconds()),
            "train/epoch": epoch_progress,
        }
        if self.on_step is not None:
            self.on_step({"step": step, **record})
        if log_now:
            self.run.log(record, step=step)
            logger.debug("step {} loss {:.4f} lr {:.2e}", step, mean_loss, lr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
