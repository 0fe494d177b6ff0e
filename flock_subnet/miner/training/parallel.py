"""The model as several ranks share it: DDP (a whole copy per rank) or FSDP (fully sharded).

The data-parallel engines synchronise gradients through the forward pass of the module they
wrap, so the wrapped module is `AnswerLoss`, whose forward pass *is* the answer-only loss sum
of `loss.answer_loss_sum`. DDP keeps a full copy of the weights and optimizer moments on every
rank; FSDP (`torch.distributed.fsdp.fully_shard`, one unit per decoder layer plus the root for
embeddings, final norm and head) keeps 1/N of each on every rank and computes in bf16 on GPU
with fp32 gradient reduction. LoRA adapters (peft) train under both.

Checkpoints do not depend on the engine's layout: under FSDP the full weights and the full
optimizer state are gathered to rank 0 (`full_state`), which writes them; every rank reads the
full files back and keeps its own shard (`load_full_optimizer`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from flock_subnet.miner.training.distributed import Parallel, Ranks
from flock_subnet.miner.training.loss import MicroBatch, answer_loss_sum

CORE_PREFIX = "core."


class AnswerLoss(nn.Module):
    """A transformers causal LM whose forward pass returns the answer-token loss sum of a micro-batch."""

    def __init__(self, core: nn.Module) -> None:
        super().__init__()
        self.core = core

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return answer_loss_sum(self.core, MicroBatch(input_ids, positions, targets))


def wrap(core: nn.Module, parallel: Parallel, ranks: Ranks, device: str) -> nn.Module:
    """`core` inside the engine that keeps the ranks' gradients in step (`core` must already be on `device`)."""
    module = AnswerLoss(core)
    if parallel is Parallel.FSDP:
        return _shard(module, ranks, device)
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [torch.device(device)] if device.startswith("cuda") else None
    return DistributedDataParallel(module, device_ids=device_ids)


def _shard(module: AnswerLoss, ranks: Ranks, device: str) -> nn.Module:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    cuda = device.startswith("cuda")
    mesh = init_device_mesh("cuda" if cuda else "cpu", (ranks.world_size,))
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if cuda else MixedPrecisionPolicy()
    decoder = module.core.get_decoder()
    for layer in getattr(decoder, "layers", []):
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(module, mesh=mesh, mp_policy=policy)
    return module


def sync_gradients(engine: nn.Module, parallel: Parallel, now: bool) -> Any:
    """A context in which backward passes reduce gradients across ranks (`now`) or only accumulate them."""
    import contextlib

    if parallel is Parallel.FSDP:
        engine.set_requires_gradient_sync(now)  # type: ignore[operator]
        return contextlib.nullcontext()
    return contextlib.nullcontext() if now else engine.no_sync()  # type: ignore[operator]


def name_map(model: nn.Module, core: nn.Module) -> dict[str, str]:
    """Parameter names of `core` -> names in `model` (the peft wrapper with LoRA, `core` itself otherwise)."""
    outer = {id(p): name for name, p in model.named_parameters()}
    return {name: outer[id(p)] for name, p in core.named_parameters() if id(p) in outer}


def _options(**extra: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **extra)


def full_state(engine: nn.Module, optimizer: Any, names: dict[str, str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Trainable weights (named as in the exported model's wrapper) and the optimizer state, whole, on rank 0.

    Every rank must call this (it gathers the shards); ranks other than 0 get empty dicts.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    weights = get_model_state_dict(engine, options=_options(cpu_offload=True, ignore_frozen_params=True))
    optim = get_optimizer_state_dict(engine, optimizer, options=_options(cpu_offload=True))
    # `names` holds each parameter once: a tied weight (the head sharing the embeddings) is saved under one name
    renamed = {}
    for key, value in weights.items():
        name = names.get(key.removeprefix(CORE_PREFIX))
        if name is not None:
            renamed[name] = value.contiguous()
    return renamed, optim


def full_model_weights(engine: nn.Module) -> dict[str, torch.Tensor]:
    """Every weight of the core model (named as in `core`), whole, on rank 0; a collective like `full_state`."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    weights = get_model_state_dict(engine, options=_options(cpu_offload=True))
    return {key.removeprefix(CORE_PREFIX): value for key, value in weights.items()}


def load_full_optimizer(engine: nn.Module, optimizer: Any, state: dict[str, Any]) -> None:
    """Give each rank its shard of a full optimizer state written by `full_state`."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(engine, optimizer, optim_state_dict=state, options=_options())
