"""Length-bucketed batching and the learning-rate schedule (pure functions)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flock_subnet.miner.training.batching import BatchingError, BatchPlan, Cursor, bucket_batches, draw_micro_batches
from flock_subnet.miner.training.schedule import learning_rate, progress_fraction


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 300), min_size=1, max_size=400),
    batch_tokens=st.integers(300, 5000),
    max_batch_size=st.one_of(st.none(), st.integers(1, 16)),
    seed=st.integers(0, 10),
    epoch=st.integers(0, 3),
)
def test_every_sample_once_and_within_budget(lengths, batch_tokens, max_batch_size, seed, epoch):
    plan = bucket_batches(lengths, batch_tokens, seed, epoch, max_batch_size)
    seen = sorted(i for batch in plan.batches for i in batch)
    assert seen == list(range(len(lengths)))
    for batch in plan.batches:
        assert batch
        assert len(batch) * max(lengths[i] for i in batch) <= batch_tokens
        if max_batch_size:
            assert len(batch) <= max_batch_size
    assert plan.real_tokens == sum(lengths)
    assert 0 < plan.efficiency <= 1


def test_plan_is_a_function_of_seed_and_epoch():
    lengths = [random.Random(1).randint(5, 200) for _ in range(500)]
    a = bucket_batches(lengths, 2048, seed=3, epoch=1)
    assert a == bucket_batches(lengths, 2048, seed=3, epoch=1)
    assert a.batches != bucket_batches(lengths, 2048, seed=3, epoch=2).batches
    assert a.batches != bucket_batches(lengths, 2048, seed=4, epoch=1).batches


def test_bucketing_wastes_far_less_than_padding_to_the_longest():
    rng = random.Random(0)
    lengths = [rng.randint(10, 256) for _ in range(2000)]
    plan = bucket_batches(lengths, 8 * 256, seed=0, max_batch_size=8)
    padded_to_max = len(lengths) * 256
    print(f"bucketed efficiency {plan.efficiency:.3f}, pad-to-max efficiency {sum(lengths) / padded_to_max:.3f}")
    assert plan.efficiency > 0.9
    assert plan.padded_tokens < 0.7 * padded_to_max


def test_a_sample_longer_than_the_budget_is_refused_with_advice():
    with pytest.raises(BatchingError, match="raise --batch-tokens to at least 300"):
        bucket_batches([10, 300], 256, seed=0)


def _plans(sizes: dict[int, int]):
    """Epoch -> a plan of `sizes[epoch]` one-sample batches numbered epoch * 100 + i."""
    return lambda epoch: BatchPlan(tuple((epoch * 100 + i,) for i in range(sizes[epoch])), 1, 1)


def test_drawing_crosses_into_the_next_epoch_and_changes_nothing():
    plans = _plans({0: 3, 1: 2, 2: 4})
    start = Cursor(0, 2, plans(0))
    batches, after = draw_micro_batches(start, 3, None, plans)
    assert batches == ((2,), (100,), (101,))
    assert (after.epoch, after.batch) == (1, 2) and after.epoch_progress == 2.0
    assert (start.epoch, start.batch) == (0, 2)  # the caller decides whether to move on
    again, _ = draw_micro_batches(start, 3, None, plans)
    assert again == batches


def test_drawing_stops_where_the_epoch_budget_ends():
    plans = _plans({0: 3, 1: 3})
    partial, after = draw_micro_batches(Cursor(0, 2, plans(0)), 4, 4, plans)  # 1.33 epochs of 3 batches
    assert partial == ((2,), (100,))
    nothing, _ = draw_micro_batches(after, 4, 4, plans)
    assert nothing == ()


def test_schedule_warms_up_then_decays_to_the_floor():
    lrs = [learning_rate(1.0, s, progress_fraction(s, 0.0, 100, None), warmup_steps=10, min_lr_ratio=0.1) for s in range(101)]
    assert lrs[0] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5 * (1 + math.cos(0))))
    assert max(lrs) == pytest.approx(lrs[9], rel=1e-6)
    assert all(b <= a for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[100] == pytest.approx(0.1)


def test_progress_is_the_larger_budget_share():
    assert progress_fraction(10, 90.0, 100, 100.0) == pytest.approx(0.9)
    assert progress_fraction(50, 1.0, 100, 100.0) == pytest.approx(0.5)
    assert progress_fraction(500, 0.0, 100, None) == 1.0
    assert progress_fraction(5, 5.0, None, None) == 0.0
