"""Hostile and broken checkpoint folders, each derived from a good tiny model by one change.

Every builder copies a good checkpoint folder and alters it the way a careless or malicious
miner would: pickled weights whose loading runs code, custom code referenced from the config,
lying safetensors headers, NaN weights, symlinks out of the folder, a foreign tokenizer.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(json.dumps(config, indent=2))


def load_weights(folder: Path) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


def save_weights(folder: Path, tensors: dict[str, np.ndarray], name: str = "model.safetensors") -> None:
    save_file(tensors, str(folder / name), metadata={"format": "pt"})


def marker_pickle(marker: Path) -> bytes:
    """Pickle bytes whose unpickling calls open(marker, "w"), creating the marker file.

    Written opcode by opcode (GLOBAL builtins.open, two string args, REDUCE), so no object with a
    malicious __reduce__ has to exist in the test process.
    """
    path = str(marker).encode()
    payload = b"\x80\x02" + b"cbuiltins\nopen\n"
    payload += b"X" + struct.pack("<I", len(path)) + path
    payload += b"X" + struct.pack("<I", 1) + b"w"
    payload += b"\x86" + b"R" + b"."
    return payload


def raw_safetensors(header: dict, data: bytes) -> bytes:
    """A safetensors file with exactly this header and data, however inconsistent they are."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def marker_module(marker: Path) -> str:
    """Python source that creates `marker` when imported."""
    return f"open({str(marker)!r}, 'w').close()\nclass EvilForCausalLM:\n    pass\n"
