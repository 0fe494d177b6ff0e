"""What a training run is asked to do (`TrainConfig`) and what it did (`TrainResult`).

Folder layout under `output_dir`:

    model/            the exported checkpoint (save_pretrained, safetensors, base tokenizer files)
    checkpoints/      resumable training states, `step-00000010/` ..., newest in `LATEST`
    train_summary.json
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flock_subnet.config import WandbSettings
from flock_subnet.errors import FlockError

MODEL_SUBDIR = "model"
CHECKPOINT_SUBDIR = "checkpoints"
SUMMARY_FILE = "train_summary.json"
PARALLEL_MODES = ("ddp", "fsdp")  # the values of `distributed.Parallel`


class TrainingError(FlockError):
    """A training run that cannot start or continue; the message says what to change."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGTERM or Ctrl-C stopped the run after step `step`, whose state is saved; `--resume` continues it."""

    def __init__(self, step: int) -> None:
        super().__init__(f"interrupted at step {step}; the state is saved, rerun with --resume to continue")
        self.step = step


@dataclass
class TrainConfig:
    """Supervised fine-tuning of a competition's base model on chat samples (answer tokens only)."""

    output_dir: Path
    competition: str = "local"
    init_model_dir: Path | None = None  # start from this checkpoint instead of the competition's base
    data_file: Path | None = None  # the miner's own JSONL/Parquet chat file; else the public generator
    num_samples: int = 2048  # samples drawn from the public generator (ignored with data_file)
    data_seed: int = 0
    eval_fraction: float = 0.0  # hold out this share of the samples for a held-out loss at the end
    max_length: int | None = None  # tokens per sample; default: the competition's sequence length
    # optimisation
    lr: float | None = None  # peak rate; None: 1e-3 (LoRA 2e-3) for tiny bases, 2e-5 (LoRA 2e-4) otherwise
    min_lr_ratio: float = 0.1
    warmup_steps: int = 10
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.98)
    max_grad_norm: float = 1.0
    batch_tokens: int = 4096  # padded tokens per micro-batch
    max_batch_size: int | None = None
    grad_accum: int = 1
    # budgets: training stops at whichever comes first (at least one is needed)
    max_steps: int | None = None
    max_seconds: float | None = None
    epochs: float | None = None
    # LoRA (peft); the adapter is merged into the exported model
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: str | list[str] = "all-linear"
    # checkpoints
    save_every: int = 50  # optimizer steps between resumable checkpoints (0: only at the end)
    keep_checkpoints: int = 2
    resume: bool = False
    # runtime
    seed: int = 0
    device: str | None = None  # None: cuda when available (cuda:LOCAL_RANK under torchrun), else cpu
    parallel: str = "ddp"  # with several processes (torchrun): ddp (whole copies) or fsdp (fully sharded)
    cache_dir: Path | None = None  # where base models are built or downloaded
    progress_bar: bool = True
    log_every: int = 10
    wandb: WandbSettings | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        for name in ("init_model_dir", "data_file", "cache_dir"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if not (self.max_steps or self.max_seconds or self.epochs):
            raise TrainingError("give a budget: max_steps, max_seconds or epochs (e.g. --max-steps 200)")
        if self.grad_accum < 1:
            raise TrainingError(f"grad_accum must be at least 1, got {self.grad_accum}")
        if self.parallel not in PARALLEL_MODES:
            raise TrainingError(f"parallel must be one of {', '.join(PARALLEL_MODES)}, got {self.parallel!r}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise TrainingError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")

    @property
    def model_dir(self) -> Path:
        return self.output_dir / MODEL_SUBDIR

    @property
    def checkpoint_dir(self) -> Path:
        return self.output_dir / CHECKPOINT_SUBDIR

    def fingerprint(self) -> dict[str, Any]:
        """The settings a checkpoint must share with the run that resumes it."""
        return {
            "competition": self.competition,
            "init_model_dir": str(self.init_model_dir) if self.init_model_dir else None,
            "data_file": str(self.data_file) if self.data_file else None,
            "num_samples": self.num_samples,
            "data_seed": self.data_seed,
            "eval_fraction": self.eval_fraction,
            "max_length": self.max_length,
            "batch_tokens": self.batch_tokens,
            "max_batch_size": self.max_batch_size,
            "grad_accum": self.grad_accum,
            "lora": self.lora,
            "lora_r": self.lora_r if self.lora else None,
            "lora_targets": self.lora_targets if self.lora else None,
            "seed": self.seed,
            # FSDP saves the optimizer keyed by parameter name, DDP and one process by position
            "parallel": self.parallel if self.parallel != "ddp" else None,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        data["wandb"] = None if self.wandb is None else asdict(self.wandb)
        return data


@dataclass
class TrainResult:
    """What a run produced. `output_dir` is the exported model folder (`config.output_dir / "model"`)."""

    output_dir: Path
    steps: int
    tokens: int
    train_loss: float
    seconds: float
    tokens_per_s: float
    resumed_from_step: int | None = None
    stopped_by: str = "steps"  # steps | seconds | epochs (a `stopping.StopReason` value)
    eval_loss: float | None = None
    checkpoint_dir: Path | None = None
    trainable_parameters: int = 0
    padding_efficiency: float = 1.0
    world_size: int = 1  # processes that trained together (torchrun --nproc-per-node)
    parallel: str | None = None  # ddp or fsdp when world_size > 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return data

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
