"""The KV cache of the sequences being decoded together, and the model calls that use it.

Every sequence keeps its own keys and values for the whole request (its prompt is computed
once, at prefill). Sequences of different lengths share one cache tensor per layer, aligned on
the right: shorter ones are padded on the left with zeros that the attention mask hides, and
every sequence gets its own position ids. Sequences join (`merge`), leave (`keep`), and columns
nobody needs any more are dropped (`trim`), so a batch changes between any two decoding steps.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any


def cache_keyword(model: Any) -> str:
    """The name under which this transformers version's `forward` takes the KV cache."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _dynamic_cache(layers: Sequence[tuple[Any, Any]] | None = None) -> Any:
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=list(layers)) if layers else DynamicCache()


def _left_pad(tensor: Any, width: int, dim: int) -> Any:
    import torch

    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=tensor.dtype, device=tensor.device), tensor], dim=dim)


class KvBatch:
    """Keys, values and attention mask of `size` sequences, right-aligned on one time axis."""

    def __init__(self, model: Any, cache: Any, mask: Any) -> None:
        self.model = model
        self.cache = cache
        self.mask = mask  # [batch, time], 1 where a real token is
        self._keyword = cache_keyword(model)

    @property
    def size(self) -> int:
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    def _layers(self) -> list[tuple[Any, Any]]:
        return [(layer.keys, layer.values) for layer in self.cache.layers]

    @classmethod
    def prefill(cls, model: Any, prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[KvBatch, Any]:
        """Run the prompts (left-padded to one length); returns the batch and each prompt's last logits."""
        import torch

        device = model.device
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
        cache = _dynamic_cache()
        out = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1,
            **{cache_keyword(model): cache},
        )
        return cls(model, cache, mask), out.logits[:, -1, :]

    def decode(self, tokens: Sequence[int], positions: Sequence[int]) -> Any:
        """One step: feed each sequence's last token at its own position; returns next-token logits."""
        import torch

        device = self.mask.device
        ids = torch.tensor(tokens, dtype=torch.long, device=device)[:, None]
        pos = torch.tensor(positions, dtype=torch.long, device=device)[:, None]
        self.mask = torch.cat([self.mask, torch.ones((self.size, 1), dtype=self.mask.dtype, device=device)], dim=1)
        out = self.model(
            input_ids=ids, attention_mask=self.mask, position_ids=pos, use_cache=True, logits_to_keep=1,
            **{self._keyword: self.cache},
        )
        return out.logits[:, -1, :]

    def merge(self, other: KvBatch) -> None:
        """Append `other`'s sequences after this batch's (both left-padded to the longer one)."""
        import torch

        width = max(self.width, other.width)
        layers = [
            (
                torch.cat([_left_pad(k1, width, 2), _left_pad(k2, width, 2)], dim=0),
                torch.cat([_left_pad(v1, width, 2), _left_pad(v2, width, 2)], dim=0),
            )
            for (k1, v1), (k2, v2) in zip(self._layers(), other._layers())
        ]
        self.mask = torch.cat([_left_pad(self.mask, width, 1), _left_pad(other.mask, width, 1)], dim=0)
        self.cache = _dynamic_cache(layers)

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only these sequences (in this order), then drop columns no sequence uses."""
        import torch

        index = torch.tensor(list(rows), dtype=torch.long, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        used = mask.any(dim=0)
        first = int(used.to(torch.int8).argmax()) if bool(used.any()) else mask.shape[1]
        self.mask = mask[:, first:]
        self.cache = _dynamic_cache(
            [(k.index_select(0, index)[:, :, first:, :], v.index_select(0, index)[:, :, first:, :]) for k, v in self._layers()]
        )
