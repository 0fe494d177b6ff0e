"""One optimizer step: gradients accumulated over micro-batches, clipped, applied.

Each micro-batch's answer-token loss sum is divided by the answer tokens of the whole step
before `backward`, so the update is that of one batch holding all the step's micro-batches.
The loss comes back as a device tensor: reading it would make the host wait for the device,
which the caller does only when a value is shown or saved.

With several ranks every rank draws the same micro-batches and trains on its share of each
(`distributed.share_of`); the engine averages gradients over the ranks, so each share's loss
is scaled by the number of ranks, and the step is the one a single process would take on the
whole global batch. The step's loss sum is summed over the ranks, so every rank logs the
global, token-weighted loss. A rank whose share of a micro-batch is empty still runs one
sample at weight 0, so that it joins the gradient exchange like the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flock_subnet.miner.training.distributed import share_of, sum_across
from flock_subnet.miner.training.loss import answer_loss_sum, collate
from flock_subnet.miner.training.setup import TrainingSetup


@dataclass(frozen=True)
class StepOutcome:
    """What one optimizer step consumed and measured."""

    loss_sum: Any  # 0-d device tensor: answer-token loss summed over the step's micro-batches
    answer_tokens: int
    tokens: int  # real (unpadded) tokens read


def optimisation_step(setup: TrainingSetup, micro_batches: Sequence[Sequence[int]], lr: float) -> StepOutcome:
    """Train on `micro_batches` (lists of sample indices) at learning rate `lr`."""
    import torch

    data = setup.data
    answer_tokens = sum(data.answer_tokens[i] for batch in micro_batches for i in batch)
    for group in setup.optimizer.param_groups:
        group["lr"] = lr
    if setup.engine is not None:
        loss_sum = _ranked_micro_batches(setup, micro_batches, answer_tokens)
    else:
        loss_sum = _micro_batches(setup, micro_batches, answer_tokens)
    if setup.config.max_grad_norm:
        torch.nn.utils.clip_grad_norm_(setup.params, setup.config.max_grad_norm)
    setup.optimizer.step()
    setup.optimizer.zero_grad(set_to_none=True)
    tokens = sum(len(data.input_ids[i]) for batch in micro_batches for i in batch)
    return StepOutcome(loss_sum=loss_sum, answer_tokens=answer_tokens, tokens=tokens)


def _micro_batches(setup: TrainingSetup, micro_batches: Sequence[Sequence[int]], answer_tokens: int) -> Any:
    """One process: forward and backward over every micro-batch; returns the loss sum."""
    data = setup.data
    loss_sum = None
    for batch in micro_batches:
        tensors = collate([data.input_ids[i] for i in batch], [data.scored[i] for i in batch], setup.pad_id, setup.device)
        with setup.autocast:
            batch_loss = answer_loss_sum(setup.core, tensors)
        (batch_loss / answer_tokens).backward()
        loss_sum = batch_loss.detach() if loss_sum is None else loss_sum + batch_loss.detach()
    return loss_sum


def _ranked_micro_batches(setup: TrainingSetup, micro_batches: Sequence[Sequence[int]], answer_tokens: int) -> Any:
    """Several ranks: this rank's share of every micro-batch; returns the loss sum over all ranks."""
    from flock_subnet.miner.training.parallel import sync_gradients  # torch: loaded once training runs

    data, ranks = setup.data, setup.ranks
    loss_sum = None
    last = len(micro_batches) - 1
    for index, batch in enumerate(micro_batches):
        share = share_of(batch, ranks)
        weight = float(ranks.world_size) if share else 0.0
        rows = share or tuple(batch[:1])
        tensors = collate([data.input_ids[i] for i in rows], [data.scored[i] for i in rows], setup.pad_id, setup.device)
        with sync_gradients(setup.engine, setup.parallel, now=index == last):
            with setup.autocast:
                batch_loss = setup.engine(tensors.input_ids, tensors.positions, tensors.targets)
            (batch_loss * (weight / answer_tokens)).backward()
        counted = batch_loss.detach() if share else batch_loss.detach() * 0.0
        loss_sum = counted if loss_sum is None else loss_sum + counted
    return sum_across(loss_sum.float(), ranks)
