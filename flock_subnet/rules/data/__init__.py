"""Training and evaluation data, pure: seeded hidden rounds, public training samples, pool draws.

Public API:
- `ChatSample(task, messages)`; `sample_pool(samples, seed, k)` (files: `evaluation.samples`)
- `round_seed(block_hash)`, `hidden_samples(competition, seed)`,
  `training_samples(competition, seed, n)`, `TASKS`
- `encode_chat(tokenizer, sample, max_length) -> EncodedSample(input_ids, labels)`
- `GENERATORS` (the allow-listed procedural generators), `TaskSource`, `samples_digest(samples)`
"""

from flock_subnet.rules.data.digest import sample_task_counts, samples_digest
from flock_subnet.rules.data.encoding import IGNORE_INDEX, EncodedSample, SampleTooLong, answer_span, encode_chat
from flock_subnet.rules.data.generators import GENERATORS, Family, GeneratorSpec, generator_spec
from flock_subnet.rules.data.hidden import POOL_TASK, TaskSource, hidden_samples, task_counts, task_seed, training_samples
from flock_subnet.rules.data.rng import SeedStream, round_seed
from flock_subnet.rules.data.samples import ChatSample, DataError, sample_pool
from flock_subnet.rules.data.tasks import SYSTEM_PROMPT, TASKS

__all__ = [
    "GENERATORS",
    "IGNORE_INDEX",
    "Family",
    "GeneratorSpec",
    "TaskSource",
    "generator_spec",
    "sample_task_counts",
    "samples_digest",
    "task_seed",
    "POOL_TASK",
    "SYSTEM_PROMPT",
    "TASKS",
    "ChatSample",
    "DataError",
    "EncodedSample",
    "SampleTooLong",
    "SeedStream",
    "answer_span",
    "encode_chat",
    "hidden_samples",
    "round_seed",
    "sample_pool",
    "task_counts",
    "training_samples",
]
