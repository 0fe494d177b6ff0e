"""Answer-only language-model loss, computed without wasted work.

Batches are right-padded, so causal attention never lets a real token see padding: no
attention mask is needed and the fast causal attention path applies. Only positions whose next
token is part of the answer go through the output layer, which skips the full-vocabulary
logits at every prompt and padding position (most of the output layer's work for short
answers). For the same reason the last decoder layer's MLP, which works on each position
alone and whose output only the output layer reads, runs on those positions only (its
attention still sees every position); the other rows of its output are zeros nobody reads.
That saves most of one layer's MLP: a large share of the work of shallow models, a few percent
of deep ones. Those positions are worked out on the host when the batch is built, so the device
never has to report a count back (no synchronisation inside a step). The result equals the
cross-entropy a `labels=` forward pass gives, summed instead of averaged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Scored:
    """Where a sample is scored: offsets t whose next token labels[t + 1] is part of the answer."""

    offsets: tuple[int, ...]
    targets: tuple[int, ...]


def scored_positions(labels: Sequence[int]) -> Scored:
    """The positions of one sample that predict an answer token, and those tokens."""
    offsets, targets = [], []
    for t in range(len(labels) - 1):
        label = labels[t + 1]
        if label != IGNORE_INDEX:
            offsets.append(t)
            targets.append(label)
    return Scored(tuple(offsets), tuple(targets))


@dataclass(frozen=True)
class MicroBatch:
    """Device tensors of one micro-batch: right-padded ids, flat scored positions, their targets."""

    input_ids: Any
    positions: Any
    targets: Any


def collate(
    input_ids: Sequence[Sequence[int]], scored: Sequence[Scored], pad_token_id: int, device: Any
) -> MicroBatch:
    """Right-pad a micro-batch to its longest sample and flatten its scored positions."""
    import torch

    width = max(len(ids) for ids in input_ids)
    rows = [list(ids) + [pad_token_id] * (width - len(ids)) for ids in input_ids]
    positions = [row * width + t for row, s in enumerate(scored) for t in s.offsets]
    targets = [label for s in scored for label in s.targets]
    tensors = [torch.tensor(rows, dtype=torch.long), torch.tensor(positions, dtype=torch.long), torch.tensor(targets, dtype=torch.long)]
    cuda = str(device).startswith("cuda")
    if cuda:
        tensors = [t.pin_memory() for t in tensors]
    ids, pos, tgt = (t.to(device, non_blocking=cuda) for t in tensors)
    return MicroBatch(ids, pos, tgt)


def answer_loss_sum(model: Any, batch: MicroBatch) -> Any:
    """Sum of next-token cross-entropy over answer positions (a 0-d tensor with gradients)."""
    import torch.nn.functional as F

    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    with last_mlp_on_rows(decoder, batch.positions):
        hidden = decoder(input_ids=batch.input_ids, use_cache=False).last_hidden_state
    chosen = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch.positions)
    logits = head(chosen)
    return F.cross_entropy(logits.float(), batch.targets, reduction="sum")


@contextlib.contextmanager
def last_mlp_on_rows(decoder: Any, rows: Any) -> Iterator[None]:
    """Within the block the last decoder layer's MLP runs on `rows` (flat batch x position indices) only.

    Decoders without a `layers[-1].mlp` run unchanged.
    """
    layers = getattr(decoder, "layers", None)
    mlp = getattr(layers[-1], "mlp", None) if layers else None
    if mlp is None:
        yield
        return
    shapes: list[Any] = []

    def take_rows(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        shapes.append(x.shape)
        return (x.reshape(-1, x.shape[-1]).index_select(0, rows), *args[1:])

    def put_rows(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        shape = shapes.pop()
        full = output.new_zeros((shape[:-1].numel(), output.shape[-1]))
        return full.index_copy(0, rows, output).reshape(*shape[:-1], output.shape[-1])

    before = mlp.register_forward_pre_hook(take_rows)
    after = mlp.register_forward_hook(put_rows)
    try:
        yield
    finally:
        before.remove()
        after.remove()
