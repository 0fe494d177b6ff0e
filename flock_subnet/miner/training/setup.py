"""Everything a training run holds before its first step, built once by `prepare`.

The device, the checkpoint training starts from, the model (LoRA-wrapped when asked), the
encoded training data and the held-out samples, the optimizer, and the position: fresh, or
restored with the weights, optimizer moments and random generators from the newest saved state
when the run resumes. The order of the steps is fixed (seed, data, model, optimizer, resume),
so the same settings give the same random draws and the same losses.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet.config import resolve_cache_dir
from flock_subnet.miner.training.config import TrainConfig, TrainingError
from flock_subnet.miner.training.dataset import EncodedSet, encode_samples, load_samples, split_holdout
from flock_subnet.miner.training.state import Position, latest_state, load_state, save_state
from flock_subnet.rules.competitions import Competition, get_competition


def default_learning_rate(competition: Competition, lora: bool) -> float:
    """A sensible peak rate when none is given: high for tiny models, low for full fine-tunes of real ones."""
    if lora:
        return 2e-3 if competition.base.tiny else 2e-4
    return 1e-3 if competition.base.tiny else 2e-5


def pick_device(requested: str | None) -> str:
    """`requested`, else cuda when available, else cpu."""
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


def load_model(base_dir: Path, config: TrainConfig, device: str) -> Any:
    """The float32 model from `base_dir` in training mode on `device`, inside a peft wrapper with LoRA."""
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
    return model


def forward_model(model: Any) -> Any:
    """The transformers model that runs the forward pass (inside a peft wrapper when LoRA is on)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@dataclass
class TrainingSetup:
    """A run ready to train: model, optimizer, data and the position to continue from."""

    config: TrainConfig
    competition: Competition
    device: str
    base_dir: Path
    model: Any  # what the optimizer updates and what is exported (a peft wrapper with LoRA)
    core: Any  # the transformers model whose forward pass computes the loss
    params: list[Any]  # the trainable parameters
    optimizer: Any
    base_lr: float
    data: EncodedSet
    held_out: list[Any]  # chat samples kept out of training, for a held-out loss at the end
    pad_id: int
    fingerprint: dict[str, Any]
    position: Position
    resumed_from: int | None  # the step of the state this run continues, None when fresh
    autocast: Any  # bf16 autocast on CUDA, a no-op context elsewhere

    @property
    def trainable(self) -> int:
        return sum(p.numel() for p in self.params)

    def checkpoint(self) -> Path:
        """Save the complete state at the current position; returns its folder."""
        return save_state(
            self.config.checkpoint_dir, self.model, self.optimizer, self.position, self.fingerprint,
            self.config.keep_checkpoints,
        )


def _refuse_to_overwrite(config: TrainConfig) -> Path | None:
    """The newest saved state of this output folder; refuses it unless the run resumes."""
    previous = latest_state(config.checkpoint_dir) if config.checkpoint_dir.is_dir() else None
    if previous is not None and not config.resume:
        raise TrainingError(
            f"{config.output_dir} already holds a training run ({previous.name}); "
            "pass --resume to continue it or choose another --output-dir"
        )
    return previous


def prepare(config: TrainConfig, hub: Any = None) -> TrainingSetup:
    """Build the run's model, data and optimizer, and restore its saved state when resuming."""
    import torch
    from transformers import AutoTokenizer

    competition = get_competition(config.competition)
    device = pick_device(config.device)
    base_dir = resolve_base_dir(config, hub=hub)
    previous = _refuse_to_overwrite(config)
    random.seed(config.seed)
    torch.manual_seed(config.seed)

    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    samples = load_samples(competition, config.data_file, config.num_samples, config.data_seed)
    train_samples, held_out = split_holdout(samples, config.eval_fraction, config.data_seed)
    data = encode_samples(tokenizer, train_samples, config.max_length or competition.sequence_length)

    model = load_model(base_dir, config, device)
    params = [p for p in model.parameters() if p.requires_grad]
    base_lr = config.lr if config.lr is not None else default_learning_rate(competition, config.lora)
    optimizer = torch.optim.AdamW(
        params, lr=base_lr, betas=config.betas, weight_decay=config.weight_decay, fused=device.startswith("cuda")
    )
    fingerprint = config.fingerprint()
    position, resumed_from = Position(), None
    if previous is not None:
        position = load_state(previous, model, optimizer, fingerprint)
        resumed_from = position.step
        logger.info("resuming from {} (step {}, epoch {}, batch {})", previous, position.step, position.epoch, position.batch)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()
    return TrainingSetup(
        config=config,
        competition=competition,
        device=device,
        base_dir=base_dir,
        model=model,
        core=forward_model(model),
        params=params,
        optimizer=optimizer,
        base_lr=base_lr,
        data=data,
        held_out=held_out,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        fingerprint=fingerprint,
        position=position,
        resumed_from=resumed_from,
        autocast=autocast,
    )
