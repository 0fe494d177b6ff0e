"""Batch planning finds prefixes shared level by level: a task's instruction after the common chat header."""

from __future__ import annotations

from flock_subnet.evaluation.batching import plan_batches


def test_each_task_template_is_run_once_per_batch_and_every_sample_is_covered():
    header = list(range(1, 16))  # the chat header every sample starts with
    question = header + list(range(50, 60))  # a preamble two tasks share, but not every sample
    spell = question + list(range(100, 140))  # one task's 40-token instruction
    count = question + list(range(200, 230))  # another's 30-token instruction
    sequences = [spell + [1000 + i, 7, 8] for i in range(12)] + [count + [2000 + i] * 13 for i in range(12)]
    sequences += [header + [3000 + i] * 5 for i in range(3)]  # stragglers sharing only the header
    assert len(sequences[0]) == len(sequences[12])  # same length: only the prefixes tell the tasks apart
    first_answer = [len(s) - 1 for s in sequences]
    plan = plan_batches(sequences, first_answer, max_tokens=4096, batch_overhead_tokens=64)

    covered = sorted(i for batch in plan for i in batch.indices)
    assert covered == list(range(len(sequences)))
    by_sample = {i: batch for batch in plan for i in batch.indices}
    assert all(by_sample[i].prefix >= len(spell) for i in range(12))
    assert all(by_sample[i].prefix >= len(count) for i in range(12, 24))
    computed = sum(batch.padded_tokens for batch in plan)
    one_level = len(header) + sum(len(s) - len(header) for s in sequences)  # the header alone shared
    assert computed < 0.5 * one_level
