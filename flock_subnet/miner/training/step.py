"""One optimizer step: gradients accumulated over micro-batches, clipped, applied.

Each micro-batch's answer-token loss sum is divided by the answer tokens of the whole step
before `backward`, so the update is that of one batch holding all the step's micro-batches.
The loss comes back as a device tensor: reading it would make the host wait for the device,
which the caller does only when a value is shown or saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    loss_sum = None
    for batch in micro_batches:
        tensors = collate([data.input_ids[i] for i in batch], [data.scored[i] for i in batch], setup.pad_id, setup.device)
        with setup.autocast:
            batch_loss = answer_loss_sum(setup.core, tensors)
        (batch_loss / answer_tokens).backward()
        loss_sum = batch_loss.detach() if loss_sum is None else loss_sum + batch_loss.detach()
    if setup.config.max_grad_norm:
        torch.nn.utils.clip_grad_norm_(setup.params, setup.config.max_grad_norm)
    setup.optimizer.step()
    setup.optimizer.zero_grad(set_to_none=True)
    tokens = sum(len(data.input_ids[i]) for batch in micro_batches for i in batch)
    return StepOutcome(loss_sum=loss_sum, answer_tokens=answer_tokens, tokens=tokens)
