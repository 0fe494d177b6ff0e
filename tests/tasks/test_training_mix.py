"""Miners train on the distribution validators score: the competition's generators, own files mixed in."""

from __future__ import annotations

from collections import Counter

from flock_subnet.evaluation.samples import round_samples, write_chat_file
from flock_subnet.miner.training.dataset import load_samples
from flock_subnet.rules.competitions import LOCAL, QWEN_05B
from flock_subnet.rules.data import GENERATORS


def test_training_draws_come_from_the_production_generators_under_another_seed_domain():
    drawn = load_samples(QWEN_05B, None, 300, seed=4)
    tasks = Counter(sample.task for sample in drawn)
    assert len(drawn) == 300 and set(tasks) <= set(GENERATORS) and len(tasks) == len(QWEN_05B.tasks)
    hidden = {s.messages[1]["content"] for s in round_samples(QWEN_05B, 4, 300)}
    assert len(hidden & {s.messages[1]["content"] for s in drawn}) < 15  # only coincidences, not the round
    assert load_samples(QWEN_05B, None, 300, seed=4) == drawn
    assert len(load_samples(QWEN_05B, None, 5000, seed=5)) == 5000  # as many as asked


def test_own_files_are_used_and_generator_draws_can_be_mixed_in(tmp_path):
    own = write_chat_file(tmp_path / "mine.jsonl", round_samples(LOCAL, 9, 12))
    assert [s.task for s in load_samples(QWEN_05B, own, 999, seed=1)] == [s.task for s in round_samples(LOCAL, 9, 12)]
    mixed = load_samples(QWEN_05B, own, 999, seed=1, mix_generated=20)
    tasks = Counter(sample.task for sample in mixed)
    assert len(mixed) == 32 and sum(tasks[t] for t in LOCAL.tasks) == 12
    assert mixed == load_samples(QWEN_05B, own, 999, seed=1, mix_generated=20)
