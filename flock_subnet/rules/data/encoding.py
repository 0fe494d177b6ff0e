"""`encode_chat`: a chat sample as token ids plus labels that score only the assistant answer.

Training and evaluation both call it, so a miner optimises exactly what validators measure.
The text is the tokenizer's own `chat_template` rendering (ChatML for the kit tokenizer,
Qwen's template for Qwen bases); the answer span is found by character offsets, so it works
with any fast tokenizer. Labels follow the Hugging Face convention (same length as the ids,
the model shifts them): -100 everywhere except the answer tokens and the end-of-turn token
that closes the answer. Text the template adds after that token is not part of the sample.

Too long: the prompt is cut from the left (its oldest tokens go first). If even the answer
plus one token of prompt does not fit, `SampleTooLong` is raised: an answer is never
dropped or cut silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flock_subnet.rules.data.samples import ChatSample, DataError

IGNORE_INDEX = -100


class SampleTooLong(DataError):
    """The answer (plus one prompt token) does not fit the sequence length."""


@dataclass(frozen=True)
class EncodedSample:
    input_ids: list[int]
    labels: list[int]
    task: str = ""
    prompt_tokens_dropped: int = 0  # prompt tokens cut from the left to fit `max_length`

    @property
    def answer_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)

    @property
    def first_answer_index(self) -> int:
        for i, label in enumerate(self.labels):
            if label != IGNORE_INDEX:
                return i
        return len(self.labels)


def _render(tokenizer: Any, messages: list[dict], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def answer_span(tokenizer: Any, sample: ChatSample) -> tuple[str, int, int]:
    """The rendered chat text and the character span of the answer plus its end-of-turn token."""
    full = _render(tokenizer, sample.messages, add_generation_prompt=False)
    prompt = _render(tokenizer, sample.prompt_messages, add_generation_prompt=True)
    if not full.startswith(prompt):
        raise DataError("the tokenizer's chat template renders the prompt differently with the answer appended")
    answer = sample.answer
    offset = full.find(answer, len(prompt))
    if offset < 0:
        raise DataError("the tokenizer's chat template does not render the assistant answer verbatim")
    end = offset + len(answer)
    for closing in dict.fromkeys(t for t in (getattr(tokenizer, "eos_token", None), "<|im_end|>", "<|eot_id|>") if t):
        if full.startswith(closing, end):
            end += len(closing)
            break
    return full, offset, end


def encode_chat(tokenizer: Any, sample: ChatSample, max_length: int) -> EncodedSample:
    """Token ids and answer-only labels of `sample`, at most `max_length` tokens long."""
    text, start, end = answer_span(tokenizer, sample)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(encoding["input_ids"])
    offsets = encoding["offset_mapping"]
    is_answer = [tok_end > start and tok_start < end for tok_start, tok_end in offsets]
    if not any(is_answer):
        raise DataError("the answer produced no tokens")
    last = max(i for i, flag in enumerate(is_answer) if flag)
    ids = ids[: last + 1]
    labels = [tok if flag else IGNORE_INDEX for tok, flag in zip(ids, is_answer)]
    first = is_answer.index(True)
    drop = max(0, len(ids) - max_length)
    if drop > first - 1:
        raise SampleTooLong(
            f"the answer of a {sample.task!r} sample needs {len(ids) - first} tokens plus one of prompt, "
            f"more than the sequence length {max_length}; shorten the answer or raise the sequence length"
        )
    return EncodedSample(input_ids=ids[drop:], labels=labels[drop:], task=sample.task, prompt_tokens_dropped=drop)
