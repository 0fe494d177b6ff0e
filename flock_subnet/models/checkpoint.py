"""Which files make a checkpoint, and its content hash.

The content hash covers exactly the files that define the model (weights, config, tokenizer),
by name and bytes, so the same checkpoint hashes the same whether it was just written by the
trainer or downloaded from a hub (hub-added files such as `.gitattributes` or a `README.md`
do not count). The salted hash binds that content to a miner's hotkey: a copier who commits
someone else's model under their own hotkey cannot reproduce the original's salted hash, and a
validator detects the copy from the identical content hash.
"""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path

from flock_subnet.errors import FlockError

WEIGHT_PATTERNS = ("*.safetensors", "model.safetensors.index.json")
CONFIG_FILES = ("config.json", "generation_config.json")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)
# Files a hub adds or a miner may add that carry no model content: ignored, never downloaded.
IGNORED_FILES = (".gitattributes", "README.md", "LICENSE", "LICENSE.txt")
MODEL_FILE_PATTERNS = WEIGHT_PATTERNS + CONFIG_FILES + TOKENIZER_FILES
_CHUNK = 1 << 20


class CheckpointError(FlockError):
    """A checkpoint folder that cannot be hashed (missing, empty, or with files outside it)."""


def is_model_file(name: str) -> bool:
    """True for files that define the model: weights, config and tokenizer files at the top level."""
    if "/" in name or "\\" in name:
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in MODEL_FILE_PATTERNS)


def is_ignored_file(name: str) -> bool:
    return name in IGNORED_FILES


def model_files(folder: str | Path) -> list[Path]:
    """The model files in `folder`, sorted by name. Symlinks are refused, not followed."""
    root = Path(folder)
    if not root.is_dir():
        raise CheckpointError(f"{root} is not a folder; pass the checkpoint folder written by save_pretrained")
    files = []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if not is_model_file(path.name):
            continue
        if path.is_symlink():
            raise CheckpointError(f"{path.name} is a symbolic link; checkpoints must hold plain files")
        if path.is_file():
            files.append(path)
    if not any(fnmatch.fnmatchcase(p.name, "*.safetensors") for p in files):
        raise CheckpointError(f"{root} has no .safetensors weights; save the model with safe_serialization=True")
    return files


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(folder: str | Path) -> str:
    """sha256 over (name, size, sha256) of every model file in name order, as 64 hex characters."""
    digest = hashlib.sha256(b"flock-checkpoint-v1\n")
    for path in model_files(folder):
        digest.update(f"{path.name}\0{path.stat().st_size}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def salted_hash(content_hash_hex: str, hotkey: str) -> str:
    """sha256(content hash bytes || hotkey ss58 text): what a miner commits on chain."""
    try:
        raw = bytes.fromhex(content_hash_hex)
    except ValueError:
        raise CheckpointError(f"content hash must be hex, got {content_hash_hex!r}") from None
    if len(raw) != 32:
        raise CheckpointError(f"content hash must be 32 bytes (64 hex characters), got {len(raw)} bytes")
    return hashlib.sha256(raw + hotkey.encode("utf-8")).hexdigest()
