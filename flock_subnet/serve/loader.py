"""Load a checkpoint for serving: weights (safetensors only, no remote code), tokenizer, chat template.

bfloat16 on a GPU and float32 on the CPU, as the validators' evaluator loads models. A
competition's model is served with the competition's base tokenizer (miners may not change it);
a local folder with its own. `encode_chat` renders messages with the tokenizer's chat template.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet.evaluation.loss import load_model, load_tokenizer
from flock_subnet.models.checkpoint import TOKENIZER_FILES
from flock_subnet.rules.competitions import Competition
from flock_subnet.serve.generation import ServeError

_log = logger.bind(component="serve")


class ChatEncoder:
    """Messages to prompt token ids through the tokenizer's chat template (safe to call from many threads)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._lock = threading.Lock()  # fast tokenizers are not safe to call from several threads at once

    def __call__(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        with self._lock:
            text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass
class LoadedModel:
    """A model ready to generate, its tokenizer, and what generation needs to know about them."""

    model: Any
    tokenizer: Any
    device: str
    dtype: str
    eos_ids: frozenset[int]
    pad_id: int
    context_length: int
    folder: Path
    encode_chat: ChatEncoder = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.encode_chat = ChatEncoder(self.tokenizer)

    def decoder_tokenizer(self) -> Any:
        """A private copy of the tokenizer for the engine thread's decoding."""
        return copy.deepcopy(self.tokenizer)


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def _context_length(model: Any, tokenizer: Any) -> int:
    limit = getattr(model.config, "max_position_embeddings", None) or 2048
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared < limit:
        limit = declared
    return int(limit)


def load_serving_tokenizer(
    folder: str | Path, competition: Competition | None = None, base_folder: str | Path | None = None
) -> Any:
    """The tokenizer to serve `folder` with: the competition's base tokenizer, or the folder's own."""
    folder = Path(folder)
    if competition is not None:
        tokenizer = load_tokenizer(folder, competition, base_folder)
    else:
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ServeError(f"{folder} has no tokenizer files; save the tokenizer next to the model (save_pretrained)")
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    if not getattr(tokenizer, "chat_template", None):
        raise ServeError(
            f"the tokenizer for {folder} has no chat template; add a 'chat_template' to tokenizer_config.json "
            "(or a chat_template.jinja file) so chat messages can be turned into a prompt"
        )
    return tokenizer


def load_for_serving(
    folder: str | Path,
    device: str | None = None,
    competition: Competition | None = None,
    base_folder: str | Path | None = None,
) -> LoadedModel:
    """Load `folder`; with a competition, use its base tokenizer (from `base_folder` for hub bases)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ServeError(f"{folder} is not a checkpoint folder (no config.json); pass a folder written by save_pretrained")
    tokenizer = load_serving_tokenizer(folder, competition, base_folder)
    model, device = load_model(folder, device)
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos, default=0)
    loaded = LoadedModel(model, tokenizer, device, dtype, eos, int(pad), _context_length(model, tokenizer), folder)
    _log.info("loaded {} on {} ({}), context {} tokens", folder, device, dtype, loaded.context_length)
    return loaded
