"""The I/O edge of `rules.data`: pool files on disk, the procedural generators, and a round's samples.

Pools are JSONL (`.jsonl`/`.json`) or Parquet (`.parquet`) files read through `datasets`;
allow-listed generators run through the `reasoning-gym` adapter (`flock_subnet.tasks.gym`).
The mixing in `rules.data` stays pure: it takes the pool as a list and the generators as a
`TaskSource`, and these functions supply both.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.data import ChatSample, DataError, hidden_samples, samples_digest, training_samples
from flock_subnet.tasks import gym


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


Scorer = Callable[[str], float]

# The generators' scorers of the round this process built last (`round_samples`), by `scorer_key`.
_LAST_SCORERS: dict[tuple[str, str], Scorer] = {}


def round_samples(competition: Competition, seed: int, n: int | None = None) -> list[ChatSample]:
    """The hidden samples of the round with `seed` (see `rules.data.hidden_samples`), pool included.

    The generators' scorers of these samples are kept until the next round is built here
    (`known_scorers`), so accuracy measured later in the same process can use them.
    """
    samples, scorers = round_samples_scored(competition, seed, n)
    _LAST_SCORERS.clear()
    _LAST_SCORERS.update(scorers)
    return samples


def known_scorers(samples: list[ChatSample]) -> dict[tuple[str, str], Scorer]:
    """The generators' scorers of those `samples` that came from the last round built here."""
    found = {}
    for sample in samples:
        scorer = _LAST_SCORERS.get(scorer_key(sample))
        if scorer is not None:
            found[scorer_key(sample)] = scorer
    return found


def round_samples_scored(
    competition: Competition, seed: int, n: int | None = None
) -> tuple[list[ChatSample], dict[tuple[str, str], Scorer]]:
    """The round's samples and, for generated ones, the generator's own scorer by `scorer_key(sample)`."""
    scorers: dict[tuple[str, str], Scorer] = {}

    def source(name: str, task_seed: int, count: int, config: Mapping[str, Any]) -> list[ChatSample]:
        produced = gym.generate_scored(name, task_seed, count, config)
        for sample, scorer in produced:
            scorers[scorer_key(sample)] = scorer
        return [sample for sample, _ in produced]

    return hidden_samples(competition, seed, n, pool=load_pool(competition), source=source), scorers


def scorer_key(sample: ChatSample) -> tuple[str, str]:
    """What identifies a generated sample among a round's: its task and its prompt."""
    return sample.task, sample.messages[-2]["content"]


def round_digest(competition: Competition, seed: int, n: int | None = None) -> str:
    """`sha256:<hex>` of the round's samples: equal on every validator whose environment is right."""
    return samples_digest(round_samples(competition, seed, n))


def public_training_samples(competition: Competition, seed: int, n: int) -> list[ChatSample]:
    """`n` public training samples (see `rules.data.training_samples`), generators and pool included."""
    return training_samples(competition, seed, n, pool=load_pool(competition), source=gym.generate)
