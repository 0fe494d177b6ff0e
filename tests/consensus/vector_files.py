"""Where the Yuma test vectors are: every `*.json` in `../shared/yuma/` beside the project,
or the files named by FLOCK_YUMA_VECTORS (colon-separated)."""

from __future__ import annotations

import os
from pathlib import Path

from flock_subnet.consensus.replay import load_vectors

PROJECT = Path(__file__).resolve().parents[2]
SHARED_VECTORS = PROJECT.parent / "shared" / "yuma"


def vector_paths() -> list[Path]:
    named = os.environ.get("FLOCK_YUMA_VECTORS")
    if named:
        return [Path(p) for p in named.split(os.pathsep) if p]
    return sorted(SHARED_VECTORS.glob("*.json"))


def all_vectors() -> list[dict]:
    vectors = []
    for path in vector_paths():
        vectors.extend(load_vectors(path))
    return vectors


def public_vectors_file() -> Path:
    path = SHARED_VECTORS / "vectors-public.json"
    named = vector_paths()
    return path if path.exists() else named[0]
