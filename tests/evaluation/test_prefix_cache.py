"""The shared-prefix cache cannot silently vanish: a decoder that ignores `past_key_values` (what a
transformers release dropping the keyword would do) stops the evaluation with `EvaluatorFault`,
instead of scoring every row without its prefix."""

from __future__ import annotations

import pytest

from flock_subnet.evaluation import EvaluatorFault, evaluate_loss
from flock_subnet.evaluation.loss import (
    check_cache_used,
    encode_samples,
    load_model,
    load_tokenizer,
    score_encoded,
)
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.rules.data import hidden_samples


class _Cache:
    def __init__(self, length: int) -> None:
        self.length = length

    def get_seq_length(self) -> int:
        return self.length


def test_check_cache_used():
    check_cache_used(_Cache(12), 12, "a prefix")
    with pytest.raises(EvaluatorFault, match="ignored the shared-prefix cache"):
        check_cache_used(_Cache(0), 12, "a prefix")


def test_a_decoder_that_ignores_the_cache_fails_loudly(tiny_model_dir, monkeypatch):
    samples = hidden_samples(LOCAL, 3, n=16)
    model, _ = load_model(tiny_model_dir, "cpu")
    tokenizer = load_tokenizer(tiny_model_dir, LOCAL)
    encoded = encode_samples(tokenizer, samples, LOCAL.sequence_length)
    shared = score_encoded(model, encoded, max_batch_tokens=4096, share_prefixes=True)  # the cache is used
    unshared = score_encoded(model, encoded, max_batch_tokens=4096, share_prefixes=False)
    assert shared.loss == pytest.approx(unshared.loss, abs=1e-5)

    decoder_class = type(model.model)
    real_forward = decoder_class.forward

    def forgetful(self, *args, **kwargs):  # a release that no longer reads the keyword
        kwargs.pop("past_key_values", None)
        kwargs["use_cache"] = False
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(decoder_class, "forward", forgetful)
    with pytest.raises(EvaluatorFault, match="shared-prefix cache"):
        score_encoded(model, encoded, max_batch_tokens=4096, share_prefixes=True)
    with pytest.raises(EvaluatorFault, match="transformers"):
        evaluate_loss(tiny_model_dir, samples, LOCAL, device="cpu")
