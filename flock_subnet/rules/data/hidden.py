"""Per-round hidden samples and the public training generator.

`hidden_samples(competition, seed)` is what every validator scores in the round whose seed
is `round_seed(hash of the round's sync block)`: the same list on every machine, and unknown
before that block exists. It mixes the competition's tasks by weight (largest-remainder
counts, then a seeded shuffle). The task name `pool` (or a competition with `public_pool`
set and no `pool` task, which then draws every sample from it) samples rows of the private
pool file named by `competition.public_pool`, which the caller reads and passes as `pool`.

Allow-listed procedural generators (`rules.data.generators`) are not run here: the caller passes
a `TaskSource`, `source(name, seed, count, config) -> samples` (`flock_subnet.tasks` adapts
`reasoning-gym`). Each such task gets one 63-bit seed per round drawn from the round's seed
stream, so no two rounds or tasks share a run of generator seeds.

`training_samples(competition, seed, n)` draws from the same generators under a different
seed domain, so no training seed reproduces a round's stream of samples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flock_subnet.rules.competition_types import Competition
from flock_subnet.rules.data.generators import generator_spec
from flock_subnet.rules.data.rng import SeedStream
from flock_subnet.rules.data.samples import ChatSample, DataError, sample_pool
from flock_subnet.rules.data.tasks import TASKS

POOL_TASK = "pool"
HIDDEN_DOMAIN = "flock/hidden/v1"
TRAINING_DOMAIN = "flock/train/v1"
SEED_BITS = 63

TaskSource = Callable[[str, int, int, Mapping[str, Any]], list[ChatSample]]


def task_counts(weights: Mapping[str, float], n: int) -> dict[str, int]:
    """Split `n` samples over tasks in proportion to `weights` (largest remainder, ties by name)."""
    positive = {name: float(w) for name, w in sorted(weights.items()) if w > 0}
    if not positive:
        raise DataError("a competition needs at least one task with a positive weight")
    total = sum(positive.values())
    exact = {name: n * w / total for name, w in positive.items()}
    counts = {name: int(value) for name, value in exact.items()}
    leftover = n - sum(counts.values())
    by_remainder = sorted(positive, key=lambda name: (-(exact[name] - counts[name]), name))
    for name in by_remainder[:leftover]:
        counts[name] += 1
    return counts


def _task_weights(competition: Competition) -> dict[str, float]:
    weights = dict(competition.tasks)
    if competition.public_pool and POOL_TASK not in weights:
        return {POOL_TASK: 1.0}
    return weights


def task_seed(stream: SeedStream, task: str) -> int:
    """The 63-bit generator seed of `task` in the round (or training draw) of `stream`."""
    return stream.child(task).child("seed").below(1 << SEED_BITS)


def _generated(
    stream: SeedStream, competition: Competition, name: str, count: int, source: TaskSource | None
) -> list[ChatSample]:
    spec = generator_spec(name)
    if source is None:
        raise DataError(
            f"competition {competition.id!r} draws {name!r} from a procedural generator; pass a task source "
            "(`flock_subnet.evaluation.samples.round_samples` does)"
        )
    config = spec.config(competition.task_configs.get(name))
    produced = list(source(name, task_seed(stream, name), count, config))
    if len(produced) != count or any(sample.task != name for sample in produced):
        raise DataError(f"the task source returned {len(produced)} samples for {name!r}, expected {count} of that task")
    return produced


def _generate(
    stream: SeedStream,
    competition: Competition,
    n: int,
    pool: list[ChatSample] | None,
    seed: int,
    domain: str,
    source: TaskSource | None = None,
) -> list[ChatSample]:
    samples: list[ChatSample] = []
    for name, count in task_counts(_task_weights(competition), n).items():
        if count == 0:
            continue
        if name == POOL_TASK:
            if pool is None:
                if not competition.public_pool:
                    raise DataError(f"competition {competition.id!r} has a 'pool' task but names no pool file")
                raise DataError(
                    f"competition {competition.id!r} samples its pool file {competition.public_pool}; "
                    "pass its rows as `pool` (`flock_subnet.evaluation.samples.round_samples` reads it)"
                )
            samples.extend(sample_pool(pool, seed, count, domain=f"{domain}/{competition.id}"))
            continue
        generator = TASKS.get(name)
        if generator is None:
            samples.extend(_generated(stream, competition, name, count, source))
            continue
        task_stream = stream.child(name)
        samples.extend(generator(task_stream.child(i)) for i in range(count))
    stream.child("mix").shuffle(samples)
    return samples


def hidden_samples(
    competition: Competition,
    seed: int,
    n: int | None = None,
    pool: list[ChatSample] | None = None,
    source: TaskSource | None = None,
) -> list[ChatSample]:
    """The round's hidden samples (`competition.samples_per_round` unless `n` is given)."""
    count = competition.samples_per_round if n is None else n
    stream = SeedStream(HIDDEN_DOMAIN, competition.id, seed)
    return _generate(stream, competition, count, pool, seed, HIDDEN_DOMAIN, source)


def training_samples(
    competition: Competition,
    seed: int,
    n: int,
    pool: list[ChatSample] | None = None,
    source: TaskSource | None = None,
) -> list[ChatSample]:
    """`n` public training samples of the competition's task mix (a seed domain apart from hidden rounds)."""
    stream = SeedStream(TRAINING_DOMAIN, competition.id, seed)
    return _generate(stream, competition, n, pool, seed, TRAINING_DOMAIN, source)
