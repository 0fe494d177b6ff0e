"""Choosing the next token for every sequence of a batch at once: greedy, temperature and top-p.

Each sequence brings its own temperature, top-p and random generator (seeded from the request's
`seed`, or from the operating system), so a seeded request draws the same tokens whatever else
shares its batch. The random draws come from CPU generators, one number per sequence and step,
and are turned into tokens by inverse-CDF sampling over the sorted, nucleus-truncated
distribution on the model's device.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class SamplerState:
    """The sampling settings of one sequence; temperature 0 means greedy."""

    temperature: float
    top_p: float
    generator: Any  # torch.Generator (CPU)

    @classmethod
    def create(cls, temperature: float, top_p: float, seed: int | None) -> SamplerState:
        import torch

        generator = torch.Generator(device="cpu")
        generator.manual_seed(seed if seed is not None else secrets.randbits(63))
        return cls(temperature, top_p, generator)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def sample_next(logits: Any, states: Sequence[SamplerState]) -> list[int]:
    """Next token per row of `logits` (rows x vocabulary), one `SamplerState` per row."""
    import torch

    chosen = logits.argmax(dim=-1)
    rows = [i for i, state in enumerate(states) if not state.greedy]
    if rows:
        index = torch.tensor(rows, device=logits.device)
        temps = torch.tensor([states[i].temperature for i in rows], device=logits.device, dtype=torch.float32)
        top_p = torch.tensor([states[i].top_p for i in rows], device=logits.device, dtype=torch.float32)
        probs = torch.softmax(logits.index_select(0, index).float() / temps[:, None], dim=-1)
        sorted_p, sorted_ids = probs.sort(dim=-1, descending=True)
        before = sorted_p.cumsum(dim=-1) - sorted_p  # mass of the more likely tokens
        sorted_p = torch.where(before < top_p[:, None], sorted_p, torch.zeros_like(sorted_p))
        cdf = sorted_p.cumsum(dim=-1)
        draws = torch.stack([torch.rand((), generator=states[i].generator) for i in rows]).to(logits.device)
        position = torch.searchsorted(cdf, (draws * cdf[:, -1])[:, None], right=True)
        position = position.clamp(max=cdf.shape[-1] - 1)
        # A draw past the last kept token (rounding) falls back to the last kept one.
        kept = (sorted_p > 0).sum(dim=-1, keepdim=True) - 1
        picked = sorted_ids.gather(1, torch.minimum(position, kept)).squeeze(1)
        chosen = chosen.clone()
        chosen[index] = picked
    return chosen.tolist()
