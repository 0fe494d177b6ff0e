"""Private pool files (JSONL and Parquet through `datasets`) and seeded pool sampling."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from flock_subnet.evaluation.samples import load_chat_file, round_samples, write_chat_file
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.rules.data import ChatSample, DataError, hidden_samples, sample_pool


def _pool(n: int) -> list[ChatSample]:
    return [
        ChatSample("qa", [{"role": "user", "content": f"What is {i} + 1?"}, {"role": "assistant", "content": str(i + 1)}])
        for i in range(n)
    ]


def test_jsonl_and_parquet_pools_load_the_same_samples(tmp_path):
    import pandas as pd

    samples = _pool(20)
    jsonl = write_chat_file(tmp_path / "pool.jsonl", samples)
    parquet = tmp_path / "pool.parquet"
    pd.DataFrame([s.to_dict() for s in samples]).to_parquet(parquet)
    assert load_chat_file(jsonl) == samples
    assert load_chat_file(parquet) == samples


def test_flat_rows_and_bad_rows(tmp_path):
    path = tmp_path / "flat.jsonl"
    path.write_text(
        json.dumps({"prompt": "hi", "completion": "hello", "system": None}) + "\n"
        + json.dumps({"system": "be brief", "prompt": "2+2", "response": "4", "task": "math"}) + "\n"
    )
    flat = load_chat_file(path)
    assert flat[0] == ChatSample("pool", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    assert flat[1].task == "math" and flat[1].messages[0] == {"role": "system", "content": "be brief"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "no answer"}]}) + "\n")
    with pytest.raises(DataError, match="row 1"):
        load_chat_file(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_chat_file(tmp_path / "missing.jsonl")


def test_sample_pool_is_deterministic_and_distinct():
    pool = _pool(50)
    first = sample_pool(pool, 42, 10)
    assert first == sample_pool(list(pool), 42, 10)
    assert len({s.answer for s in first}) == 10
    assert first != sample_pool(pool, 43, 10)
    assert sorted(s.answer for s in sample_pool(pool, 1, 500)) == sorted(s.answer for s in pool)


def test_competition_with_a_pool_mixes_it_in(tmp_path):
    path = write_chat_file(tmp_path / "private.jsonl", _pool(40))
    competition = replace(LOCAL, id="pooled", public_pool=str(path), tasks={"pool": 1.0, "reverse": 1.0})
    round_ = round_samples(competition, 9, n=20)
    assert sorted(s.task for s in round_) == ["qa"] * 10 + ["reverse"] * 10
    assert round_ == hidden_samples(competition, 9, n=20, pool=_pool(40))
    assert round_ != round_samples(competition, 10, n=20)
    only_pool = round_samples(replace(competition, tasks={"reverse": 1.0}, public_pool=str(path)), 9, n=5)
    assert {s.task for s in only_pool} == {"qa"}
    with pytest.raises(DataError, match="names no pool"):
        hidden_samples(replace(LOCAL, tasks={"pool": 1.0}), 0)
    with pytest.raises(DataError, match="pass its rows as `pool`"):
        hidden_samples(competition, 9, n=20)  # the pure generator reads no file
