"""From a checkpoint folder to a `ServedModel`: load it with the chosen engine, name it.

`build_served` returns only once the model is fully loaded and its engine is running, which is
what lets a swap happen without a gap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from flock_subnet.models.checkpoint import TOKENIZER_FILES
from flock_subnet.rules.competitions import Competition
from flock_subnet.serve.engine import TransformersEngine, check_limits
from flock_subnet.serve.generation import EngineLimits, ServeError
from flock_subnet.serve.loader import (
    ChatEncoder,
    load_for_serving,
    load_serving_tokenizer,
)
from flock_subnet.serve.slot import ServedModel


class EngineKind(str, Enum):
    TRANSFORMERS = "transformers"  # continuous batching on transformers: CPU or GPU
    VLLM = "vllm"  # vllm's scheduler: GPU only, vllm installed


@dataclass(frozen=True)
class EngineOptions:
    kind: EngineKind = EngineKind.TRANSFORMERS
    device: str | None = None  # auto: cuda when available
    limits: EngineLimits = field(default_factory=EngineLimits)


def folder_model_id(folder: str | Path) -> str:
    """A model id from a folder's name (`/data/my-model/` -> `my-model`)."""
    name = Path(folder).resolve().name
    cleaned = re.sub(r"[^A-Za-z0-9._@/-]+", "-", name).strip("-")
    return cleaned or "model"


def build_served(
    folder: str | Path,
    model_id: str,
    options: EngineOptions | None = None,
    *,
    competition: Competition | None = None,
    base_folder: str | Path | None = None,
    aliases: tuple[str, ...] = (),
    details: Mapping[str, Any] | None = None,
) -> ServedModel:
    """Load `folder` on the chosen engine and wrap it as a model the server can swap in."""
    options = options or EngineOptions()
    limits = check_limits(options.limits)
    folder = Path(folder)
    if options.kind is EngineKind.VLLM:
        from flock_subnet.serve.vllm_engine import VllmEngine, require_vllm

        require_vllm()
        tokenizer = load_serving_tokenizer(folder, competition, base_folder)
        has_own = any((folder / name).is_file() for name in TOKENIZER_FILES)
        tokenizer_folder = folder if has_own or base_folder is None else Path(base_folder)
        engine: Any = VllmEngine(folder, tokenizer_folder, limits, label=model_id)
        encoder = ChatEncoder(tokenizer)
    elif options.kind is EngineKind.TRANSFORMERS:
        loaded = load_for_serving(folder, options.device, competition, base_folder)
        engine = TransformersEngine(loaded, limits, label=model_id)
        encoder = loaded.encode_chat
    else:  # pragma: no cover - the enum has two members
        raise ServeError(f"unknown engine {options.kind!r}; choose transformers or vllm")
    return ServedModel(model_id, engine, encoder, aliases, dict(details or {}))
