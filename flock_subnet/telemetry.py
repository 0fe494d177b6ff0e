"""Logs (loguru), progress bars (tqdm) and Weights & Biases runs, configured in one place.

W&B never blocks a neuron: without `WANDB_API_KEY` runs are written offline; with a key but no
network, `init` gives up after a short timeout and falls back to offline; `--wandb.off`
disables it. Every `WandbRun` method is safe to call whatever the mode.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger

from flock_subnet.config import WandbSettings, progress_enabled

T = TypeVar("T")

_LOG_FORMAT = "<green>{time:HH:mm:ss}</green> | <level>{level: <7}</level> | <cyan>{extra[component]}</cyan> | {message}"


def setup_logging(debug: bool = False, trace: bool = False, logging_dir: str | None = None) -> None:
    """Send logs to stderr (and to `logging_dir/flock-subnet.log`, rotated, when given)."""
    level = "TRACE" if trace else "DEBUG" if debug else os.environ.get("FLOCK_LOG_LEVEL", "INFO")
    logger.remove()
    logger.configure(extra={"component": "flock"})
    logger.add(sys.stderr, level=level, format=_LOG_FORMAT, colorize=None)
    if logging_dir:
        Path(logging_dir).mkdir(parents=True, exist_ok=True)
        logger.add(Path(logging_dir) / "flock-subnet.log", level=level, rotation="50 MB", retention=5)


def progress_bar(total: int | None, description: str, unit: str = "it", initial: int = 0, in_bytes: bool = False) -> Any:
    """A `tqdm` bar on stderr, shown only where `config.progress_enabled` says (logs stay clean)."""
    from tqdm.auto import tqdm

    scale = {"unit_scale": True, "unit_divisor": 1024} if in_bytes else {}
    return tqdm(
        total=total, initial=initial, desc=description, unit=unit, disable=not progress_enabled(), leave=False, **scale
    )


def progress(iterable: Iterable[T], description: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """`iterable` with a progress bar, shown only where `config.progress_enabled` says."""
    from tqdm.auto import tqdm

    yield from tqdm(iterable, desc=description, total=total, unit=unit, disable=not progress_enabled(), leave=False)


class WandbRun:
    """A thin, failure-proof wrapper around a W&B run."""

    def __init__(self, run: Any | None) -> None:
        self._run = run

    @property
    def active(self) -> bool:
        return self._run is not None

    @property
    def directory(self) -> str | None:
        return getattr(self._run, "dir", None) if self._run is not None else None

    def log(self, data: dict[str, Any], step: int | None = None) -> None:
        if self._run is None:
            return
        try:
            self._run.log(data, step=step)
        except Exception as exc:  # telemetry must never stop a neuron
            logger.warning("W&B log failed ({}); continuing without it", exc)

    def summary(self, data: dict[str, Any]) -> None:
        if self._run is None:
            return
        try:
            self._run.summary.update(data)
        except Exception as exc:
            logger.warning("W&B summary failed ({})", exc)

    def finish(self) -> None:
        if self._run is None:
            return
        try:
            self._run.finish()
        except Exception as exc:
            logger.warning("W&B finish failed ({})", exc)
        self._run = None


def start_wandb_run(
    settings: WandbSettings,
    name: str,
    config: dict[str, Any] | None = None,
    job_type: str | None = None,
    tags: list[str] | None = None,
) -> WandbRun:
    """Start a W&B run: online with a key, offline without one; never hangs on a dead network."""
    mode = settings.mode
    if mode == "disabled":
        return WandbRun(None)
    try:
        import wandb
    except ImportError:
        logger.warning("wandb is not installed; W&B logging is off")
        return WandbRun(None)
    if settings.directory:
        Path(settings.directory).mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = dict(
        project=settings.project,
        entity=settings.entity,
        name=name,
        config=config or {},
        job_type=job_type,
        tags=tags,
        dir=settings.directory,
        reinit="finish_previous",
    )
    try:
        run = wandb.init(mode=mode, settings=wandb.Settings(init_timeout=20, silent=True), **kwargs)
    except Exception as exc:
        if mode != "online":
            logger.warning("W&B run could not start ({}); logging is off", exc)
            return WandbRun(None)
        logger.warning("W&B online init failed ({}); writing the run offline instead", exc)
        try:
            run = wandb.init(mode="offline", settings=wandb.Settings(silent=True), **kwargs)
        except Exception as exc2:
            logger.warning("W&B offline run failed too ({}); logging is off", exc2)
            return WandbRun(None)
    return WandbRun(run)
