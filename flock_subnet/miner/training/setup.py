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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet.config import resolve_cache_dir
from flock_subnet.miner.training.config import TrainConfig, TrainingError
from flock_subnet.miner.training.dataset import EncodedSet, encode_samples, load_samples, split_holdout
from flock_subnet.miner.training.distributed import Parallel, Ranks, barrier, rank_device, ranks_from_env
from flock_subnet.miner.training.distributed import start as start_ranks
from flock_subnet.miner.training.state import (
    Position,
    latest_state,
    load_state,
    load_weights,
    read_optimizer,
    read_position,
    restore_rng,
    save_state,
)
from flock_subnet.rules.competitions import Competition, get_competition


def default_learning_rate(competition: Competition, lora: bool) -> float:
    """A sensible peak rate when none is given: high for tiny models, low for full fine-tunes of real ones."""
    if lora:
        return 2e-3 if competition.base.tiny else 2e-4
    return 1e-3 if competition.base.tiny else 2e-5


def pick_device(requested: str | None, ranks: Ranks | None = None) -> str:
    """`requested`, else cuda when available, else cpu; under torchrun each rank's own `cuda:LOCAL_RANK`."""
    import torch

    return rank_device(requested, ranks or Ranks(), torch.cuda.is_available())


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
    ranks: Ranks = field(default_factory=Ranks)
    parallel: Parallel = Parallel.DDP
    engine: Any = None  # with several ranks: the DDP/FSDP module whose forward is the loss (`parallel.AnswerLoss`)
    names: dict[str, str] = field(default_factory=dict)  # FSDP: core parameter names -> `model`'s names
    trainable_count: int = 0

    @property
    def trainable(self) -> int:
        return self.trainable_count or sum(p.numel() for p in self.params)

    @property
    def sharded(self) -> bool:
        """Whether the weights are split across ranks (FSDP with several processes)."""
        return self.engine is not None and self.parallel is Parallel.FSDP

    def checkpoint(self) -> Path:
        """Save the complete state at the current position; returns its folder.

        Every rank calls this; rank 0 writes (FSDP gathers the full state to it first) and the
        others wait until the state is on disk.
        """
        weights = optimizer_state = None
        if self.sharded:
            from flock_subnet.miner.training.parallel import full_state

            weights, optimizer_state = full_state(self.engine, self.optimizer, self.names)
        path = self.config.checkpoint_dir / f"step-{self.position.step:08d}"
        if self.ranks.is_main:
            path = save_state(
                self.config.checkpoint_dir, self.model, self.optimizer, self.position, self.fingerprint,
                self.config.keep_checkpoints, weights=weights, optimizer_state=optimizer_state,
            )
        barrier(self.ranks)
        return path


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
    ranks, parallel = ranks_from_env(), Parallel(config.parallel)
    device = pick_device(config.device, ranks)
    start_ranks(ranks, device)
    if not ranks.is_main:  # rank 0 builds or downloads the base into the shared cache first
        barrier(ranks)
    base_dir = resolve_base_dir(config, hub=hub)
    if ranks.is_main:
        barrier(ranks)
    previous = _refuse_to_overwrite(config)
    random.seed(config.seed)
    torch.manual_seed(config.seed)

    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    samples = load_samples(competition, config.data_file, config.num_samples, config.data_seed)
    train_samples, held_out = split_holdout(samples, config.eval_fraction, config.data_seed)
    data = encode_samples(tokenizer, train_samples, config.max_length or competition.sequence_length)

    model = load_model(base_dir, config, device)
    base_lr = config.lr if config.lr is not None else default_learning_rate(competition, config.lora)
    fingerprint = config.fingerprint()
    if ranks.enabled and parallel is Parallel.FSDP:
        engine, params, optimizer, position, names = _sharded(model, config, ranks, device, base_lr, previous, fingerprint)
    else:
        params = [p for p in model.parameters() if p.requires_grad]
        # the fused kernel on CPU too (as transformers.Trainer's default optimizer): ~10% faster steps on CPU
        optimizer = torch.optim.AdamW(params, lr=base_lr, betas=config.betas, weight_decay=config.weight_decay, fused=True)
        position, names = Position(), {}
        if previous is not None:
            position = load_state(previous, model, optimizer, fingerprint)
        engine = None
        if ranks.enabled:
            from flock_subnet.miner.training.parallel import wrap

            engine = wrap(forward_model(model), parallel, ranks, device)
    resumed_from = None
    if previous is not None:
        resumed_from = position.step
        if ranks.is_main:
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
        ranks=ranks,
        parallel=parallel,
        engine=engine,
        names=names,
        trainable_count=sum(p.numel() for p in model.parameters() if p.requires_grad) if engine is not None else 0,
    )


def _sharded(
    model: Any, config: TrainConfig, ranks: Ranks, device: str, base_lr: float, previous: Path | None,
    fingerprint: dict[str, Any],
) -> tuple[Any, list[Any], Any, Position, dict[str, str]]:
    """FSDP: every rank reads the saved full weights, shards the model, then takes its shard of the optimizer state."""
    import torch

    from flock_subnet.miner.training.parallel import load_full_optimizer, name_map, wrap

    core = forward_model(model)
    names = name_map(model, core)
    position = Position()
    if previous is not None:
        position = read_position(previous, fingerprint)
        load_weights(previous, model)
    engine = wrap(core, Parallel.FSDP, ranks, device)
    params = [p for p in engine.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=base_lr, betas=config.betas, weight_decay=config.weight_decay)
    if previous is not None:
        load_full_optimizer(engine, optimizer, read_optimizer(previous))
        restore_rng(previous)
    return engine, params, optimizer, position, names
