"""The I/O edge of `rules.data`: pool files on disk, and a round's samples with its pool read in.

Pools are JSONL (`.jsonl`/`.json`) or Parquet (`.parquet`) files read through `datasets`. The
generators in `rules.data` stay pure: they take the pool as a list, and these functions read it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.data import ChatSample, DataError, hidden_samples, training_samples


def load_chat_file(path: str | Path) -> list[ChatSample]:
    """Read a JSONL (`.jsonl`/`.json`) or Parquet (`.parquet`) pool file into samples, in file order."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"pool file {path} does not exist")
    suffix = path.suffix.lower()
    builder = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(suffix)
    if builder is None:
        raise DataError(f"pool file {path} must end in .jsonl, .json or .parquet")
    from datasets import load_dataset

    with tempfile.TemporaryDirectory(prefix="flock-pool-") as cache:
        try:
            rows = load_dataset(builder, data_files=str(path), split="train", cache_dir=cache).to_list()
        except Exception as exc:
            raise DataError(f"cannot read pool file {path}: {exc}") from exc
    samples = []
    for number, row in enumerate(rows, start=1):
        try:
            samples.append(ChatSample.from_dict(row))
        except DataError as exc:
            raise DataError(f"{path} row {number}: {exc}") from None
    return samples


def write_chat_file(path: str | Path, samples: list[ChatSample]) -> Path:
    """Write samples as JSONL (one `{"task", "messages"}` object per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample.to_dict(), ensure_ascii=False) + "\n")
    return path


def load_pool(competition: Competition) -> list[ChatSample] | None:
    """The competition's private pool file, read, or None when it names none."""
    return load_chat_file(competition.public_pool) if competition.public_pool else None


def round_samples(competition: Competition, seed: int, n: int | None = None) -> list[ChatSample]:
    """The hidden samples of the round with `seed` (see `rules.data.hidden_samples`), pool included."""
    return hidden_samples(competition, seed, n, pool=load_pool(competition))


def public_training_samples(competition: Competition, seed: int, n: int) -> list[ChatSample]:
    """`n` public training samples (see `rules.data.training_samples`), pool included."""
    return training_samples(competition, seed, n, pool=load_pool(competition))
