"""The batched answer-only evaluator against a naive full-logits reference, and its faults."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flock_subnet.evaluation import EvalResult, EvaluatorFault, ModelFault, evaluate_loss
from flock_subnet.evaluation.batching import partition, plan_batches
from flock_subnet.evaluation.loss import encode_samples, load_model, load_tokenizer, score_encoded
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.rules.data import hidden_samples
from tests.evaluation.eval_helpers import altered_copy, mixed_samples, naive_loss


@pytest.fixture(scope="module")
def sharp_model_dir(tiny_model_dir, tmp_path_factory):
    """The micro model with peaked predictions, so an off-by-one position changes the loss a lot."""

    def sharpen(weights):
        weights["model.embed_tokens.weight"] *= 25.0

    return altered_copy(tiny_model_dir, tmp_path_factory.mktemp("sharp") / "model", sharpen)


@pytest.fixture(scope="module")
def samples():
    return hidden_samples(LOCAL, 21, n=30) + mixed_samples()


def test_evaluator_equals_the_naive_full_logits_loss(sharp_model_dir, samples):
    expected, expected_tasks, answer_tokens = naive_loss(sharp_model_dir, samples, LOCAL)
    result = evaluate_loss(sharp_model_dir, samples, LOCAL, device="cpu")
    assert result.loss == pytest.approx(expected, abs=1e-4)
    assert set(result.per_task) == set(expected_tasks)
    for task, loss in expected_tasks.items():
        assert result.per_task[task] == pytest.approx(loss, abs=1e-4)
    assert result.answer_tokens == answer_tokens and result.samples == len(samples)
    assert result.tokens > result.answer_tokens and result.tokens_per_s > 0
    assert result.device == "cpu" and result.dtype == "float32"
    assert max(result.per_task.values()) - min(result.per_task.values()) > 0.5  # the model is far from uniform


def test_batch_plans_do_not_change_the_loss(sharp_model_dir, samples):
    model, _ = load_model(sharp_model_dir, "cpu")
    tokenizer = load_tokenizer(sharp_model_dir, LOCAL)
    encoded = encode_samples(tokenizer, samples, LOCAL.sequence_length)
    reference = score_encoded(model, encoded, max_batch_tokens=4096)
    for budget, share in ((4096, False), (40, True), (100_000, True)):
        other = score_encoded(model, encoded, max_batch_tokens=budget, share_prefixes=share)
        assert other.token_counts == reference.token_counts
        for a, b in zip(other.loss_sums, reference.loss_sums):
            assert a == pytest.approx(b, abs=1e-3)
        assert other.loss == pytest.approx(reference.loss, abs=1e-5)
    model.config.logit_scale = 2.0  # a declared logit transform: scored through the full logits path
    try:
        full = score_encoded(model, encoded, max_batch_tokens=512)
    finally:
        del model.config.logit_scale
    assert full.loss == pytest.approx(reference.loss, abs=1e-5)


def test_repeated_evaluations_are_identical(tiny_model_dir):
    round_ = hidden_samples(LOCAL, 4, n=24)
    first = evaluate_loss(tiny_model_dir, round_, LOCAL, device="cpu")
    second = evaluate_loss(tiny_model_dir, round_, LOCAL, device="cpu")
    assert first.loss == second.loss and first.per_task == second.per_task
    assert math.isfinite(first.sample_loss)
    assert EvalResult.from_dict(json.loads(json.dumps(first.to_dict()))) == first


def test_nan_weights_are_a_model_fault(tiny_model_dir, tmp_path):
    def poison(weights):
        weights["model.norm.weight"][:] = float("nan")

    broken = altered_copy(tiny_model_dir, tmp_path / "nan", poison)
    with pytest.raises(ModelFault, match="not finite"):
        evaluate_loss(broken, hidden_samples(LOCAL, 0, n=8), LOCAL, device="cpu")


def test_weights_that_do_not_fit_the_config_are_a_model_fault(tiny_model_dir, tmp_path):
    def shrink(weights):
        weights["model.layers.0.mlp.up_proj.weight"] = weights["model.layers.0.mlp.up_proj.weight"][:7].clone()

    broken = altered_copy(tiny_model_dir, tmp_path / "shape", shrink)
    with pytest.raises(ModelFault, match="loading the model"):
        evaluate_loss(broken, hidden_samples(LOCAL, 0, n=8), LOCAL, device="cpu")
    truncated = altered_copy(tiny_model_dir, tmp_path / "truncated", lambda w: None)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFault):
        evaluate_loss(truncated, hidden_samples(LOCAL, 0, n=8), LOCAL, device="cpu")


def test_missing_folder_and_no_samples_are_evaluator_faults(tiny_model_dir, tmp_path):
    with pytest.raises(EvaluatorFault, match="does not exist"):
        evaluate_loss(tmp_path / "nowhere", hidden_samples(LOCAL, 0, n=4), LOCAL)
    with pytest.raises(EvaluatorFault, match="no samples"):
        evaluate_loss(tiny_model_dir, [], LOCAL)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=12), min_size=1, max_size=30),
    st.integers(1, 40),
    st.booleans(),
)
def test_batch_plans_cover_every_sample_once_within_budget(sequences, budget, share):
    max_prefix = [len(s) - 1 for s in sequences]
    plan = plan_batches(sequences, max_prefix, budget, share_prefixes=share, min_group=2)
    seen = sorted(i for batch in plan for i in batch.indices)
    assert seen == list(range(len(sequences)))
    for batch in plan:
        rows = [sequences[i] for i in batch.indices]
        assert batch.width == max(len(r) for r in rows) - batch.prefix >= 1
        assert all(batch.prefix <= max_prefix[i] for i in batch.indices)
        assert all(r[: batch.prefix] == rows[0][: batch.prefix] for r in rows)
        assert len(rows) == 1 or len(rows) * batch.width <= budget
        assert share or batch.prefix == 0


def _brute_force(widths, max_tokens, overhead):
    best = None
    n = len(widths)
    for mask in range(1 << max(n - 1, 0)):
        cuts = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        runs = list(zip(cuts, cuts[1:]))
        if any(e - s > 1 and (e - s) * widths[e - 1] > max_tokens for s, e in runs):
            continue
        cost = sum((e - s) * widths[e - 1] + overhead for s, e in runs)
        best = cost if best is None else min(best, cost)
    return best


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=9), st.integers(1, 80), st.integers(0, 40))
def test_partition_is_optimal(widths, max_tokens, overhead):
    widths = sorted(widths)
    runs = partition(widths, max_tokens, overhead)
    assert runs[0][0] == 0 and runs[-1][1] == len(widths)
    assert all(a[1] == b[0] for a, b in zip(runs, runs[1:]))
    cost = sum((e - s) * widths[e - 1] + overhead for s, e in runs)
    assert cost == _brute_force(widths, max_tokens, overhead)


def test_partition_trades_padding_for_fewer_passes():
    widths = [10] * 8 + [30] * 8
    assert partition(widths, 10_000, 0) == [(0, 8), (8, 16)]
    assert partition(widths, 10_000, 1_000) == [(0, 16)]
    assert partition([5, 5, 5, 5], 10, 0) == [(0, 2), (2, 4)]


def test_samples_are_encoded_with_the_base_tokenizer(tiny_model_dir, tmp_path):
    import shutil
    from dataclasses import replace

    from flock_subnet.rules.competitions import QWEN_05B

    bare = tmp_path / "bare"
    shutil.copytree(tiny_model_dir, bare)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (bare / name).unlink()
    round_ = hidden_samples(LOCAL, 8, n=12)
    with_files = evaluate_loss(tiny_model_dir, round_, LOCAL, device="cpu")
    assert evaluate_loss(bare, round_, LOCAL, device="cpu").loss == with_files.loss  # tiny base: the kit tokenizer
    hub_based = replace(QWEN_05B, id="hubbased", sequence_length=256)
    with pytest.raises(ModelFault, match="tokenizer_dir"):  # the checkpoint lacks what the evaluator needs
        evaluate_loss(bare, round_, hub_based, device="cpu")
    from_base = evaluate_loss(bare, round_, hub_based, device="cpu", tokenizer_dir=tiny_model_dir)
    assert from_base.loss == pytest.approx(with_files.loss, abs=1e-9)
    assert evaluate_loss(tiny_model_dir, round_, hub_based, device="cpu").loss == pytest.approx(with_files.loss, abs=1e-9)
