"""Training data: chat samples from the competition's own task mix, the miner's own file, or both,
encoded once with the same `data.encode_chat` the evaluator uses (loss on answer tokens only).

By default a miner trains on the distribution validators score: `num_samples` fresh draws (any
number) from the competition's generators and pool under the training seed domain, which no
hidden round reuses. With a data file, its chats are used; `mix_generated` adds that many
generator draws to them, shuffled together by the data seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flock_subnet.miner.training.config import TrainingError
from flock_subnet.miner.training.loss import Scored, scored_positions
from flock_subnet.rules.competitions import Competition


@dataclass
class EncodedSet:
    """Encoded samples, ready for bucketing: parallel lists indexed by sample."""

    input_ids: list[list[int]]
    scored: list[Scored]  # positions that predict answer tokens, and those tokens
    answer_tokens: list[int]
    raw: list[Any]  # the ChatSample each row came from (for a held-out evaluation)
    dropped: int = 0  # samples whose answer did not survive truncation

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    def __len__(self) -> int:
        return len(self.input_ids)


def load_samples(
    competition: Competition, data_file: Path | None, num_samples: int, seed: int, mix_generated: int = 0
) -> list[Any]:
    """The chat samples to train on: the miner's file (plus `mix_generated` draws) when given, else draws."""
    from flock_subnet.evaluation.samples import load_chat_file, public_training_samples

    if data_file is not None:
        if not Path(data_file).is_file():
            raise TrainingError(f"data file {data_file} does not exist; pass a JSONL or Parquet file of chats")
        samples = list(load_chat_file(data_file))
        if mix_generated > 0:
            samples.extend(public_training_samples(competition, seed, mix_generated))
            random.Random(f"flock-mix:{seed}").shuffle(samples)
    else:
        samples = list(public_training_samples(competition, seed, num_samples))
    if not samples:
        raise TrainingError("no training samples: the data file is empty or num_samples is 0")
    return samples


def encode_samples(tokenizer: Any, samples: list[Any], max_length: int) -> EncodedSet:
    """Encode every sample; drop those whose answer does not fit `max_length` tokens."""
    from flock_subnet.rules.data import SampleTooLong, encode_chat

    encoded = EncodedSet([], [], [], [])
    for sample in samples:
        try:
            item = encode_chat(tokenizer, sample, max_length)
        except SampleTooLong:
            encoded.dropped += 1
            continue
        scored = scored_positions(item.labels)
        if not scored.offsets:
            encoded.dropped += 1
            continue
        encoded.input_ids.append(list(item.input_ids))
        encoded.scored.append(scored)
        encoded.answer_tokens.append(len(scored.offsets))
        encoded.raw.append(sample)
    if not encoded.input_ids:
        raise TrainingError(
            f"every sample lost its answer when cut to {max_length} tokens; raise --max-length or shorten the chats"
        )
    return encoded


def split_holdout(samples: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, held-out) with `fraction` of the samples held out, chosen by `seed`."""
    if fraction <= 0 or len(samples) < 2:
        return samples, []
    order = list(range(len(samples)))
    random.Random(f"flock-holdout:{seed}").shuffle(order)
    cut = max(1, int(round(len(samples) * fraction)))
    held = set(order[:cut])
    return [s for i, s in enumerate(samples) if i not in held], [s for i, s in enumerate(samples) if i in held]
