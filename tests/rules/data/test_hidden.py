"""Hidden rounds, public training samples, seeds and the task generators."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from dataclasses import replace

import pytest

from flock_subnet.rules.competitions import LOCAL, QWEN_05B
from flock_subnet.rules.data import (
    TASKS,
    DataError,
    SeedStream,
    hidden_samples,
    round_seed,
    task_counts,
    training_samples,
)

# Any change to these is a change of every validator's hidden data: bump the seed domains on purpose.
GOLDEN_LOCAL_ROUND_0 = "31e199bce58afe7de85f004fc845c7803189319d957f1e2e4c80a15c439c07f7"


def _digest(samples) -> str:
    return hashlib.sha256(json.dumps([s.to_dict() for s in samples]).encode()).hexdigest()


def test_round_seed_is_sha256_of_the_block_hash_bytes():
    block_hash = "0x" + "ab" * 32
    expected = int.from_bytes(hashlib.sha256(bytes.fromhex("ab" * 32)).digest()[:8], "big") & ((1 << 63) - 1)
    assert round_seed(block_hash) == expected
    assert round_seed(block_hash.upper().replace("0X", "0x")) == expected
    assert round_seed("0x" + "ac" * 32) != expected
    assert 0 <= round_seed("not hex at all") < 2**63


def test_seed_stream_is_pinned():
    stream = SeedStream("golden", 1)
    assert [stream.below(1000) for _ in range(8)] == [432, 477, 83, 338, 489, 163, 290, 859]


def test_seed_stream_draws_are_in_range_and_spread():
    stream = SeedStream("spread", 0)
    counts = Counter(stream.below(6) for _ in range(6000))
    assert set(counts) == set(range(6)) and min(counts.values()) > 850
    picks = stream.sample_indices(10, 10)
    assert sorted(picks) == list(range(10))
    assert stream.sample_indices(3, 5) != [] and len(stream.sample_indices(3, 5)) == 3


def test_hidden_samples_equal_for_equal_seeds_and_pinned():
    first = hidden_samples(LOCAL, 0)
    assert first == hidden_samples(LOCAL, 0)
    assert _digest(first) == GOLDEN_LOCAL_ROUND_0
    assert len(first) == LOCAL.samples_per_round


def test_hidden_samples_are_the_same_in_another_process():
    code = (
        "import hashlib, json; from flock_subnet.rules.competitions import LOCAL; "
        "from flock_subnet.rules.data import hidden_samples; "
        "print(hashlib.sha256(json.dumps([s.to_dict() for s in hidden_samples(LOCAL, 987654321)]).encode()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == _digest(hidden_samples(LOCAL, 987654321))


def test_hidden_samples_differ_between_seeds_and_competitions():
    a, b = hidden_samples(LOCAL, 1), hidden_samples(LOCAL, 2)
    assert a != b
    assert len({json.dumps(s.to_dict()) for s in a} & {json.dumps(s.to_dict()) for s in b}) < len(a) // 4
    assert hidden_samples(replace(LOCAL, id="other"), 1) != a


def test_hidden_mix_follows_the_task_weights():
    counts = Counter(s.task for s in hidden_samples(LOCAL, 5))
    assert counts == {"reverse": 32, "brackets": 32, "sort_digits": 32}
    assert task_counts({"a": 1.0, "b": 2.0}, 10) == {"a": 3, "b": 7}
    assert task_counts({"a": 1.0, "b": 1.0, "c": 1.0}, 4) == {"a": 2, "b": 1, "c": 1}
    assert sum(task_counts({"x": 0.3, "y": 0.3, "z": 0.4}, 97).values()) == 97
    with pytest.raises(DataError):
        task_counts({"a": 0.0}, 3)
    three = replace(QWEN_05B, tasks={"reverse": 1.0, "brackets": 1.0, "sort_digits": 1.0})
    mixed = hidden_samples(three, 3, n=30)
    assert Counter(s.task for s in mixed) == {"reverse": 10, "brackets": 10, "sort_digits": 10}
    assert [s.task for s in mixed] != sorted(s.task for s in mixed)  # shuffled, not grouped


def test_training_samples_live_in_another_seed_domain():
    hidden = hidden_samples(LOCAL, 7)
    train = training_samples(LOCAL, 7, len(hidden))
    assert train != hidden and train == training_samples(LOCAL, 7, len(hidden))
    assert training_samples(LOCAL, 8, 10) != training_samples(LOCAL, 7, 10)
    assert len(training_samples(LOCAL, 7, 1000)) == 1000


def test_unknown_task_is_an_error():
    with pytest.raises(DataError, match="unknown task"):
        hidden_samples(replace(LOCAL, tasks={"telepathy": 1.0}), 0)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_answers_are_correct(name):
    stream = SeedStream("tasks", name)
    pairs = {"(": ")", "[": "]", "{": "}", "<": ">"}
    for i in range(200):
        sample = TASKS[name](stream.child(i))
        assert [m["role"] for m in sample.messages] == ["system", "user", "assistant"]
        body = sample.messages[1]["content"].split(": ", 1)[1].split(" ")
        answer = sample.answer.split(" ")
        if name == "reverse":
            assert answer == body[::-1]
        elif name == "sort_digits":
            assert answer == sorted(body)
        elif name == "count_letter":
            target = sample.messages[1]["content"].split(":")[0][-1]
            assert answer == [str(body.count(target))]
        elif name == "brackets":
            stack = []
            for symbol in body:
                if symbol in pairs:
                    stack.append(symbol)
                else:
                    assert pairs[stack.pop()] == symbol
            assert stack and answer == [pairs[s] for s in reversed(stack)]
