"""The transformers engine: the KV batch matches full recomputation, batching changes no answer,
and every way a sequence ends (end of text, stop string, max_tokens, context, cancel) is honoured."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from flock_subnet.serve.batch import KvBatch
from flock_subnet.serve.engine import TransformersEngine
from flock_subnet.serve.generation import (
    EngineClosed,
    EngineLimits,
    Failed,
    Finished,
    FinishReason,
    GenerationRequest,
    Overloaded,
    TextDelta,
)
from flock_subnet.serve.loader import load_for_serving


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return load_for_serving(tiny_model_dir, "cpu")


@pytest.fixture
def make_engine(loaded):
    engines = []

    def make(**limits) -> TransformersEngine:
        engine = TransformersEngine(loaded, EngineLimits(**limits), label="test")
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def collect(stream, timeout: float = 60.0) -> tuple[str, Finished]:
    parts = []
    while True:
        event = stream.next(timeout=timeout)
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, Failed):
            raise AssertionError(event.message)
        else:
            return "".join(parts), event


def prompt(loaded, text: str) -> tuple[int, ...]:
    return tuple(loaded.encode_chat([{"role": "user", "content": text}]))


def test_kv_batch_matches_recomputing_every_sequence_in_full(loaded):
    model = loaded.model
    a, b = [5, 17, 200, 33, 9], [44, 12, 7, 301, 2, 90, 18, 66, 23, 71, 5, 3]
    grown = {"a": list(a), "b": list(b)}

    def full_logits(ids):
        return model(input_ids=torch.tensor([ids])).logits[0, -1]

    with torch.inference_mode():
        batch, logits = KvBatch.prefill(model, [a], loaded.pad_id)
        rows = ["a"]
        torch.testing.assert_close(logits[0], full_logits(a), atol=1e-4, rtol=1e-4)
        for step in range(12):
            if step == 3:  # b joins a batch that is already decoding
                joined, new_logits = KvBatch.prefill(model, [b], loaded.pad_id)
                torch.testing.assert_close(new_logits[0], full_logits(b), atol=1e-4, rtol=1e-4)
                batch.merge(joined)
                rows.append("b")
            if step == 8:  # a leaves; the columns only it used are dropped
                batch.keep([1])
                rows = ["b"]
                assert batch.width == len(grown["b"])  # exactly b's own tokens remain
            tokens = [(step * 37 + 11 * i) % 4000 + 4 for i in range(len(rows))]
            positions = [len(grown[r]) for r in rows]
            for r, t in zip(rows, tokens):
                grown[r].append(t)
            logits = batch.decode(tokens, positions)
            for i, r in enumerate(rows):
                torch.testing.assert_close(logits[i], full_logits(grown[r]), atol=1e-4, rtol=1e-4)


def test_greedy_answer_equals_transformers_generate(loaded, make_engine):
    engine = make_engine()
    ids = prompt(loaded, "Sort the digits: 3 1 2")
    text, done = collect(engine.submit(GenerationRequest(ids, 24, temperature=0.0, ignore_eos=True)))
    with torch.inference_mode():
        out = loaded.model.generate(torch.tensor([ids]), max_new_tokens=24, min_new_tokens=24, do_sample=False)
    assert text == loaded.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)
    assert done == Finished(FinishReason.LENGTH, len(ids), 24)


def test_answers_in_a_batch_equal_answers_alone(loaded, make_engine):
    engine = make_engine(max_batch=8)
    requests = [
        GenerationRequest(prompt(loaded, "x" * (3 * i + 1)), 8 + 5 * i, temperature=0.9, top_p=0.95, seed=100 + i,
                          ignore_eos=True)
        for i in range(6)
    ]
    together: dict[int, tuple[str, Finished]] = {}

    def run(i: int) -> None:
        together[i] = collect(engine.submit(requests[i]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    alone = {i: collect(engine.submit(r)) for i, r in enumerate(requests)}
    assert together == alone
    assert [done.completion_tokens for _, done in alone.values()] == [r.max_tokens for r in requests]
    assert len({text for text, _ in alone.values()}) == len(requests)


def test_seeds_repeat_and_differ(loaded, make_engine):
    engine = make_engine()
    ids = prompt(loaded, "hello")

    def answer(seed):
        return collect(engine.submit(GenerationRequest(ids, 16, temperature=1.0, seed=seed, ignore_eos=True)))[0]

    assert answer(1) == answer(1)
    assert answer(1) != answer(2)


def test_stop_strings_end_the_answer_before_them(loaded, make_engine):
    engine = make_engine()
    ids = prompt(loaded, "Close the brackets: ( [")
    base = GenerationRequest(ids, 40, temperature=1.0, seed=3, ignore_eos=True)
    full, _ = collect(engine.submit(base))
    stop = full[10:13]
    text, done = collect(engine.submit(GenerationRequest(ids, 40, temperature=1.0, seed=3, stop=(stop,), ignore_eos=True)))
    assert text == full[: full.index(stop)]
    assert done.reason is FinishReason.STOP and done.completion_tokens < 40


def test_end_of_sequence_stops_unless_ignored(loaded, make_engine, monkeypatch):
    engine = make_engine()
    ids = prompt(loaded, "hi")
    first = collect(engine.submit(GenerationRequest(ids, 1, temperature=0.0)))
    with torch.inference_mode():
        greedy_first = int(loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
    monkeypatch.setattr(engine, "_eos", frozenset({greedy_first}))  # make the greedy first token the end of text
    text, done = collect(engine.submit(GenerationRequest(ids, 10, temperature=0.0)))
    assert (text, done) == ("", Finished(FinishReason.STOP, len(ids), 1))
    text, done = collect(engine.submit(GenerationRequest(ids, 1, temperature=0.0, ignore_eos=True)))
    assert (text, done) == first


def test_the_context_limit_ends_a_long_answer(loaded, make_engine):
    engine = make_engine()
    ids = prompt(loaded, "word " * 60)
    room = loaded.context_length - len(ids)
    assert 0 < room < 200
    _, done = collect(engine.submit(GenerationRequest(ids, 10_000, temperature=0.0, ignore_eos=True)))
    assert done == Finished(FinishReason.LENGTH, len(ids), room)
    with pytest.raises(Exception, match="at most"):
        engine.submit(GenerationRequest(tuple(range(4, 4 + loaded.context_length)), 5))


def test_limits_cancel_and_retire(loaded, make_engine):
    engine = make_engine(max_batch=1, max_waiting=1)
    ids = prompt(loaded, "long")
    long = GenerationRequest(ids, 200, temperature=0.0, ignore_eos=True)
    first = engine.submit(long)
    second = engine.submit(long)  # waits behind the first
    with pytest.raises(Overloaded):
        engine.submit(long)
    first.cancel()
    second.cancel()
    deadline = time.monotonic() + 20
    while engine.pending() != (0, 0):
        assert time.monotonic() < deadline, engine.pending()
        time.sleep(0.01)
    assert engine.tokens_generated < 200  # the cancelled request stopped early

    running = engine.submit(GenerationRequest(ids, 30, temperature=0.0, ignore_eos=True))
    assert isinstance(running.next(timeout=30), TextDelta)
    engine.retire()
    with pytest.raises(EngineClosed):
        engine.submit(long)
    _, done = collect(running)  # accepted before retiring: finishes
    assert done.completion_tokens == 30
    assert engine.join(20)
