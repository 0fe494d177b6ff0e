"""Where the Yuma test vectors are: `tests/data_files/yuma/*.json` in the repository (vectors
transcribed from subtensor's own tests), or the files named by FLOCK_YUMA_VECTORS (colon-separated)."""

from __future__ import annotations

import os
from pathlib import Path

from flock_subnet.rules.consensus.replay import load_vectors

VECTORS_DIR = Path(__file__).resolve().parents[2] / "data_files" / "yuma"
PUBLIC_VECTORS = VECTORS_DIR / "vectors-public.json"


def vector_paths() -> list[Path]:
    named = os.environ.get("FLOCK_YUMA_VECTORS")
    if named:
        return [Path(p) for p in named.split(os.pathsep) if p]
    return sorted(VECTORS_DIR.glob("*.json"))


def all_vectors() -> list[dict]:
    vectors = []
    for path in vector_paths():
        vectors.extend(load_vectors(path))
    return vectors


def public_vectors_file() -> Path:
    return PUBLIC_VECTORS
