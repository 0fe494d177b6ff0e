"""Skip the last decoder layer's MLP at positions whose output nobody reads.

Only the hidden states that predict answer tokens are scored. In the last decoder layer the
other positions still provide keys and values to attention, but their MLP output goes
nowhere, so `scored_rows_only` swaps that layer's MLP for one that runs on the scored rows
and writes zeros elsewhere. The MLP acts on each position separately, so the scored rows are
bit-for-bit what the full MLP gives. Applied only to architectures whose MLP is known to be
position-wise; anything else runs unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

POSITIONWISE_MLP_MODEL_TYPES = frozenset({"llama", "qwen2", "qwen3", "mistral"})


class ScoredRowsMLP(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, flat_index: torch.Tensor) -> None:
        super().__init__()
        self.inner = inner
        self.flat_index = flat_index

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        flat = hidden.reshape(-1, hidden.shape[-1])
        out = flat.new_zeros(flat.shape)
        out[self.flat_index] = self.inner(flat[self.flat_index])
        return out.view_as(hidden)


@contextmanager
def scored_rows_only(model: Any, decoder: Any, flat_index: torch.Tensor) -> Iterator[bool]:
    """Within the block, the last layer's MLP runs on `flat_index` rows of (batch x width) only."""
    layers = getattr(decoder, "layers", None)
    model_type = getattr(model.config, "model_type", None)
    if model_type not in POSITIONWISE_MLP_MODEL_TYPES or not layers or not hasattr(layers[-1], "mlp"):
        yield False
        return
    layer = layers[-1]
    inner = layer.mlp
    layer.mlp = ScoredRowsMLP(inner, flat_index)
    try:
        yield True
    finally:
        layer.mlp = inner
