"""The tiny-model kit: a tokenizer and small Llama models built locally, byte for byte the same.

Nothing here downloads anything. The tokenizer is a byte-level BPE (vocabulary 4096) trained
with `tokenizers` on documentation text that ships with CPython (`pydoc_data.topics`) plus a
few fixed lines of chat scaffolding, so the words of the chat format are single tokens. It
carries a ChatML `chat_template` and the special tokens `<|endoftext|>`, `<|pad|>`,
`<|im_start|>` and `<|im_end|>`.

`build_tiny_model` writes a `save_pretrained` folder (safetensors weights, config, generation
config, tokenizer) whose bytes depend only on the preset, the seed and the versions of Python
(its documentation text), torch and transformers: two builds on the same installation have
the same `checkpoint.content_hash`. Competitions whose base is `tiny` (the `local` one) use it
as their base model; other competitions download their base at the pinned revision.

Heavy libraries are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flock_subnet.errors import FlockError
from flock_subnet.models.checkpoint import MODEL_FILE_PATTERNS, TOKENIZER_FILES
from flock_subnet.models.params import LLAMA, ModelShape, model_shape, parameter_count
from flock_subnet.rules.competitions import Competition

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerFast

    from flock_subnet.hub.base import ModelHub

VOCAB_SIZE = 4096
ENDOFTEXT = "<|endoftext|>"
PAD = "<|pad|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, PAD, IM_START, IM_END)  # ids 0, 1, 2, 3

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Fixed chat scaffolding added to the training text, so role names and task words get tokens.
_SCAFFOLD_LINES = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>",
    "<|im_start|>user\nReverse the letters: a b c d e f g h i j k l m n o p q r s t u v w x y z<|im_end|>",
    "<|im_start|>user\nClose the brackets: ( [ { < > } ] )<|im_end|>",
    "<|im_start|>user\nSort the digits: 0 1 2 3 4 5 6 7 8 9<|im_end|>",
    "<|im_start|>assistant\nanswer<|im_end|>",
)
_SCAFFOLD_REPEATS = 64


class ModelKitError(FlockError):
    """The tiny-model kit cannot build or find what was asked for."""


@dataclass(frozen=True)
class TinyPreset:
    """Shape of a tiny Llama model (the vocabulary is always the kit tokenizer's)."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    tie_word_embeddings: bool = True

    def sizes(self) -> dict[str, Any]:
        """The preset's entries of `config.json`, the vocabulary included."""
        return {"architectures": [LLAMA], "vocab_size": VOCAB_SIZE, **asdict(self)}

    def shape(self) -> ModelShape:
        """The preset's sizes, as `models.params` counts them."""
        return model_shape(self.sizes())

    def llama_config(self) -> Any:
        """The `transformers.LlamaConfig` of this preset."""
        from transformers import LlamaConfig

        sizes = {k: v for k, v in self.sizes().items() if k != "architectures"}
        return LlamaConfig(
            **sizes,
            bos_token_id=SPECIAL_TOKENS.index(ENDOFTEXT),
            eos_token_id=SPECIAL_TOKENS.index(IM_END),
            pad_token_id=SPECIAL_TOKENS.index(PAD),
            rms_norm_eps=1e-6,
        )


TINY_PRESETS: dict[str, TinyPreset] = {
    # about 1.05 M parameters: fast enough for unit tests
    "micro": TinyPreset(128, 512, 2, 4, 4, 256),
    # about 5.2 M parameters: the `local` competition's base, sequence length 256
    "small": TinyPreset(256, 1024, 4, 4, 4, 256),
}


def _training_text() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[key] for key in sorted(topics)] + list(_SCAFFOLD_LINES) * _SCAFFOLD_REPEATS


@functools.lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    return tokenizer.to_str()


def build_tokenizer(model_max_length: int = 256) -> "PreTrainedTokenizerFast":
    """The kit's tokenizer, trained once per process (about 0.3 s) and cached; a fresh object each call."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        eos_token=IM_END,
        pad_token=PAD,
        bos_token=None,
        unk_token=None,
        model_max_length=model_max_length,
        additional_special_tokens=[ENDOFTEXT, IM_START],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "right"
    return tokenizer


def _preset(preset: str) -> TinyPreset:
    try:
        return TINY_PRESETS[preset]
    except KeyError:
        raise ModelKitError(f"unknown tiny preset {preset!r}; choose one of {', '.join(sorted(TINY_PRESETS))}") from None


def count_parameters(preset: str) -> int:
    """Parameter count of a preset (tied embeddings counted once), without building it."""
    return parameter_count(_preset(preset).shape())


def build_tiny_model(out_dir: str | Path, preset: str = "small", seed: int = 0) -> Path:
    """Write a randomly initialised tiny Llama (with the kit tokenizer) to `out_dir`; returns the folder.

    The output is byte-identical for the same arguments on the same installation. Existing
    model files in `out_dir` are overwritten.
    """
    import torch
    from transformers import LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    config = _preset(preset).llama_config()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator_state = torch.random.get_rng_state()
    progress_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        model.generation_config.eos_token_id = [config.eos_token_id, config.bos_token_id]
        model.save_pretrained(out, safe_serialization=True)
        build_tokenizer(config.max_position_embeddings).save_pretrained(out)
    finally:
        torch.random.set_rng_state(generator_state)
        if progress_was_enabled:
            hf_logging.enable_progress_bar()
    return out


def _tiny_cache_key(preset: str, seed: int) -> str:
    import tokenizers
    import torch
    import transformers

    facts = {
        "preset": asdict(_preset(preset)),
        "seed": seed,
        "python": list(sys.version_info[:2]),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def _build_atomically(dest: Path, build) -> Path:
    """Build into a temporary sibling and rename it to `dest`; a folder at `dest` is always complete."""
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():  # another process finished first: keep theirs
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def base_model_dir(competition: Competition, cache_dir: str | Path, hub: "ModelHub | None" = None) -> Path:
    """The competition's base checkpoint folder, built (tiny bases) or downloaded (others) once and cached.

    Tiny bases are cached under `cache_dir/tiny/`; hub bases under
    `cache_dir/hub/<namespace>--<name>/<revision>/`, downloaded at the pinned revision through
    `hub`, with only model files and at most the competition's byte budget.
    """
    cache = Path(cache_dir)
    base = competition.base
    if base.tiny is not None:
        dest = cache / "tiny" / f"{base.tiny}-{_tiny_cache_key(base.tiny, 0)}"
        return _build_atomically(dest, lambda tmp: build_tiny_model(tmp, preset=base.tiny, seed=0))
    dest = cache / "hub" / base.repo_id.replace("/", "--") / base.revision
    if dest.is_dir():
        return dest
    if hub is None:
        raise ModelKitError(
            f"the base model of competition {competition.id!r} ({base.repo_id}@{base.revision}) is not in "
            f"{cache / 'hub'}; pass a hub to download it"
        )

    def download(tmp: Path) -> None:
        hub.download(
            base.repo_id,
            base.revision,
            tmp,
            allow_patterns=list(MODEL_FILE_PATTERNS),
            max_bytes=competition.max_bytes,
        )

    return _build_atomically(dest, download)


def reference_tokenizer_files(
    competition: Competition, cache_dir: str | Path, hub: "ModelHub | None" = None
) -> dict[str, bytes]:
    """Tokenizer file name -> bytes, for every tokenizer file of the competition's base checkpoint."""
    folder = base_model_dir(competition, cache_dir, hub=hub)
    files = {name: (folder / name).read_bytes() for name in TOKENIZER_FILES if (folder / name).is_file()}
    if not files:
        raise ModelKitError(f"the base checkpoint at {folder} has no tokenizer files; delete it to rebuild or re-download")
    return files
