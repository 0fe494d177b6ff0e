"""`encode_chat`: exact answer-only labels, left truncation of the prompt, no silent answer loss."""

from __future__ import annotations

import pytest

from flock_subnet.rules.competitions import LOCAL
from flock_subnet.rules.data import (
    IGNORE_INDEX,
    ChatSample,
    SampleTooLong,
    encode_chat,
    hidden_samples,
    training_samples,
)


def _expected(tokenizer, sample: ChatSample) -> tuple[list[int], list[int]]:
    prompt_text = tokenizer.apply_chat_template(sample.prompt_messages, tokenize=False, add_generation_prompt=True)
    prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer = tokenizer(sample.answer, add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    return prompt + answer, [IGNORE_INDEX] * len(prompt) + answer


def test_only_the_answer_and_its_end_token_are_labelled(tiny_tokenizer):
    for sample in hidden_samples(LOCAL, 11, n=30):
        encoded = encode_chat(tiny_tokenizer, sample, LOCAL.sequence_length)
        ids, labels = _expected(tiny_tokenizer, sample)
        assert encoded.input_ids == ids
        assert encoded.labels == labels
        assert encoded.task == sample.task and encoded.prompt_tokens_dropped == 0
        scored = [t for t in encoded.labels if t != IGNORE_INDEX]
        assert tiny_tokenizer.decode(scored) == sample.answer + "<|im_end|>"


def test_earlier_turns_and_an_answer_repeated_in_the_prompt_stay_masked(tiny_tokenizer):
    sample = ChatSample(
        "echo",
        [
            {"role": "system", "content": "Repeat after me."},
            {"role": "user", "content": "a b c"},
            {"role": "assistant", "content": "a b c"},
            {"role": "user", "content": "a b c"},
            {"role": "assistant", "content": "a b c"},
        ],
    )
    encoded = encode_chat(tiny_tokenizer, sample, 256)
    ids, labels = _expected(tiny_tokenizer, sample)
    assert encoded.input_ids == ids and encoded.labels == labels
    assert encoded.answer_tokens == len(tiny_tokenizer("a b c")["input_ids"]) + 1


def test_long_prompts_are_cut_from_the_left(tiny_tokenizer):
    sample = ChatSample("long", [{"role": "user", "content": "x " * 300}, {"role": "assistant", "content": "done"}])
    full_ids, full_labels = _expected(tiny_tokenizer, sample)
    encoded = encode_chat(tiny_tokenizer, sample, 64)
    assert len(encoded.input_ids) == 64
    assert encoded.prompt_tokens_dropped == len(full_ids) - 64
    assert encoded.input_ids == full_ids[-64:] and encoded.labels == full_labels[-64:]
    answer_len = encoded.answer_tokens
    tight = encode_chat(tiny_tokenizer, sample, answer_len + 1)
    assert tight.answer_tokens == answer_len and tight.labels[0] == IGNORE_INDEX


def test_an_answer_that_cannot_fit_is_an_error_not_a_cut(tiny_tokenizer):
    sample = ChatSample("long", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "y " * 100}])
    answer_len = encode_chat(tiny_tokenizer, sample, 512).answer_tokens
    with pytest.raises(SampleTooLong, match="sequence length"):
        encode_chat(tiny_tokenizer, sample, answer_len)


def test_every_generated_sample_fits_the_local_sequence_length(tiny_tokenizer):
    longest = max(len(encode_chat(tiny_tokenizer, s, 256).input_ids) for s in training_samples(LOCAL, 0, 300))
    assert longest < LOCAL.sequence_length // 2
