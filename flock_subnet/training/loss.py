"""Answer-only language-model loss, computed without wasted work.

Batches are right-padded, so causal attention never lets a real token see padding: no
attention mask is needed and the fast causal attention path applies. Only positions whose next
token is part of the answer go through the output layer, which skips the full-vocabulary
logits at every prompt and padding position (most of the output layer's work for short
answers). The result equals the mean cross-entropy a `labels=` forward pass gives, summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IGNORE_INDEX = -100


def collate(
    input_ids: Sequence[Sequence[int]], labels: Sequence[Sequence[int]], pad_token_id: int, device: Any
) -> tuple[Any, Any]:
    """Right-pad a micro-batch to its longest sample: (input_ids, labels) tensors on `device`."""
    import torch

    width = max(len(ids) for ids in input_ids)
    ids = torch.full((len(input_ids), width), pad_token_id, dtype=torch.long)
    lab = torch.full((len(input_ids), width), IGNORE_INDEX, dtype=torch.long)
    for row, (seq, seq_labels) in enumerate(zip(input_ids, labels)):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        lab[row, : len(seq_labels)] = torch.tensor(seq_labels, dtype=torch.long)
    return ids.to(device, non_blocking=True), lab.to(device, non_blocking=True)


def answer_token_count(labels: Sequence[int]) -> int:
    """How many positions a sample contributes to the loss (labels after the first position)."""
    return sum(1 for label in labels[1:] if label != IGNORE_INDEX)


def answer_loss_sum(model: Any, input_ids: Any, labels: Any) -> Any:
    """Sum of next-token cross-entropy over answer positions (a 0-d tensor with gradients)."""
    import torch.nn.functional as F

    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    hidden = decoder(input_ids=input_ids, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), targets[keep], reduction="sum")
