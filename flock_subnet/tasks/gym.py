"""The `reasoning-gym` adapter: allow-listed procedural generators as chat samples.

`generate(name, seed, count, config)` is the `TaskSource` that `rules.data.hidden_samples`
calls: it builds one dataset per task per round (`size=count`, since some generators pick
their templates from the size) from the task's 63-bit seed, and turns each item into a
system/user/assistant chat whose answer is the generator's gold answer. The library is
imported on first use (a few seconds) and its version must be the pinned one: a different
version generates different rounds than the other validators.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from functools import lru_cache, partial
from importlib import metadata
from typing import Any

from flock_subnet.rules.data import ChatSample, DataError
from flock_subnet.rules.data.generators import REASONING_GYM_VERSION, generator_spec
from flock_subnet.rules.data.tasks import SYSTEM_PROMPT

ANSWER_INSTRUCTION = "Reply with only the final answer."


class GeneratorUnavailable(DataError):
    """`reasoning-gym` is missing or not the pinned version."""


@lru_cache(maxsize=1)
def _library() -> Any:
    try:
        module = importlib.import_module("reasoning_gym")
    except ImportError as exc:
        raise GeneratorUnavailable(
            f"the production tasks need reasoning-gym=={REASONING_GYM_VERSION} "
            f"(pip install 'reasoning-gym=={REASONING_GYM_VERSION}'): {exc}"
        ) from exc
    version = metadata.version("reasoning-gym")  # the module's own __version__ lags the release
    if version != REASONING_GYM_VERSION:
        raise GeneratorUnavailable(
            f"reasoning-gym {version} is installed but the hidden rounds are pinned to {REASONING_GYM_VERSION}; "
            f"run pip install 'reasoning-gym=={REASONING_GYM_VERSION}' so your rounds match the other validators'"
        )
    return module


def library_version() -> str:
    """The installed, checked `reasoning-gym` version."""
    _library()
    return metadata.version("reasoning-gym")


def _config_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def create_dataset(name: str, seed: int, count: int, config: Mapping[str, Any]) -> Any:
    """The raw `reasoning-gym` dataset of `count` items (for scoring answers with its own scorer)."""
    generator_spec(name)
    settings = {key: _config_value(value) for key, value in config.items()}
    try:
        return _library().create_dataset(name, seed=seed, size=count, **settings)
    except (TypeError, ValueError, AssertionError) as exc:
        raise DataError(f"generator {name!r} rejected its settings {dict(config)}: {exc}") from exc


def to_sample(name: str, entry: Mapping[str, Any]) -> ChatSample:
    """One generator item as a chat: the question (plus a short-answer instruction), the gold answer."""
    answer = str(entry["answer"]).strip()
    if not answer:
        raise DataError(f"generator {name!r} produced an empty answer")
    return ChatSample(
        task=name,
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"{str(entry['question']).strip()}\n\n{ANSWER_INSTRUCTION}"},
            {"role": "assistant", "content": answer},
        ],
    )


def generate(name: str, seed: int, count: int, config: Mapping[str, Any]) -> list[ChatSample]:
    """`count` samples of allow-listed generator `name` from `seed` (a `rules.data.TaskSource`)."""
    return [sample for sample, _ in generate_scored(name, seed, count, config)]


def generate_scored(
    name: str, seed: int, count: int, config: Mapping[str, Any]
) -> list[tuple[ChatSample, Callable[[str], float]]]:
    """Like `generate`, each sample with the generator's own scorer of a reply to it (0..1)."""
    if count <= 0:
        return []
    dataset = create_dataset(name, seed, count, config)
    entries = [dataset[i] for i in range(count)]
    return [(to_sample(name, entry), partial(_score, dataset, entry)) for entry in entries]


def _score(dataset: Any, entry: Mapping[str, Any], reply: str) -> float:
    try:
        return float(dataset.score_answer(reply, entry))
    except Exception:  # a scorer that cannot parse the reply gives it no credit
        return 0.0


def score_answer(name: str, seed: int, count: int, config: Mapping[str, Any], index: int, answer: str) -> float:
    """The generator's own score (0..1) of `answer` for item `index` of the dataset (name, seed, count)."""
    dataset = create_dataset(name, seed, count, config)
    return float(dataset.score_answer(answer, dataset[index]))
