"""Export a trained model as a standard checkpoint folder that admission accepts.

The folder holds `save_pretrained` output in safetensors, in the base checkpoint's dtype (LoRA
adapters merged into the base weights first, so validators load a plain model), and the base
model's tokenizer files copied byte for byte, so the tokenizer check compares equal. The folder
is built beside the target and renamed into place: a reader never sees a half-written export.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flock_subnet.models.checkpoint import TOKENIZER_FILES, content_hash


def copy_tokenizer_files(base_dir: Path, dest: Path) -> list[str]:
    """Copy the base's tokenizer files into `dest` unchanged; returns the names copied."""
    copied = []
    for name in TOKENIZER_FILES:
        source = base_dir / name
        target = dest / name
        if target.exists():
            target.unlink()
        if source.is_file():
            shutil.copyfile(source, target)
            copied.append(name)
    return copied


def mergeable(model: Any) -> Any:
    """The plain transformers model to save: LoRA adapters merged, peft wrapper removed."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def base_dtype(base_dir: Path) -> Any:
    """The dtype the base checkpoint is stored in (bf16 bases stay bf16, so size limits hold); fp32 otherwise."""
    import torch

    try:
        config = json.loads((base_dir / "config.json").read_text())
    except (OSError, ValueError):
        return torch.float32
    name = config.get("dtype") or config.get("torch_dtype")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(str(name), torch.float32)


def export_model(model: Any, base_dir: Path, dest: Path, dtype: Any = None) -> tuple[Path, str]:
    """Write `model` (merged, in `dtype` or the base's dtype) with the base's tokenizer to `dest`; returns (dest, content hash)."""
    plain = mergeable(model)
    plain = plain.to(device="cpu", dtype=dtype or base_dtype(base_dir))
    plain.config.use_cache = True
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        copy_tokenizer_files(base_dir, tmp)
        digest = content_hash(tmp)
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest, digest
