"""Seeded synthetic instruction tasks with a real learning signal for a small model.

Each task turns a `SeedStream` into one `ChatSample`. Symbols are separated by spaces, so
every letter, digit and bracket is one token for the kit tokenizer and the rule to learn is
the same at every position. A ~5 M-parameter model learns these in minutes on a CPU.

| task | prompt | answer |
|---|---|---|
| `reverse` | `Reverse the letters: d o g` | `g o d` |
| `brackets` | `Close the brackets: ( [ ] {` | `} )` |
| `sort_digits` | `Sort the digits: 3 1 2` | `1 2 3` |
| `count_letter` | `Count the letter x: x a x b` | `2` |
"""

from __future__ import annotations

import string
from collections.abc import Callable

from flock_subnet.rules.data.rng import SeedStream
from flock_subnet.rules.data.samples import ChatSample

SYSTEM_PROMPT = "You are a helpful assistant."
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_OPENERS = tuple(_PAIRS)
_LETTERS = string.ascii_lowercase
_DIGITS = string.digits


def _chat(task: str, prompt: str, answer: str) -> ChatSample:
    return ChatSample(
        task=task,
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        ],
    )


def reverse_letters(stream: SeedStream) -> ChatSample:
    letters = [stream.choice(_LETTERS) for _ in range(stream.randint(3, 12))]
    return _chat("reverse", "Reverse the letters: " + " ".join(letters), " ".join(reversed(letters)))


def close_brackets(stream: SeedStream) -> ChatSample:
    """A prefix of a random Dyck word with at least one bracket left open; the answer closes them."""
    length = stream.randint(3, 16)
    emitted: list[str] = []
    stack: list[str] = []
    max_depth = 6
    for i in range(length):
        remaining = length - i
        must_open = not stack or (remaining == 1 and len(stack) == 1)
        if not must_open and (len(stack) >= max_depth or stream.chance(2, 5)):
            emitted.append(_PAIRS[stack.pop()])
        else:
            opener = stream.choice(_OPENERS)
            stack.append(opener)
            emitted.append(opener)
    if not stack:  # cannot happen given the rules above; kept so the answer is never empty
        stack.append("(")
        emitted.append("(")
    closing = [_PAIRS[opener] for opener in reversed(stack)]
    return _chat("brackets", "Close the brackets: " + " ".join(emitted), " ".join(closing))


def sort_digits(stream: SeedStream) -> ChatSample:
    digits = [stream.choice(_DIGITS) for _ in range(stream.randint(3, 12))]
    return _chat("sort_digits", "Sort the digits: " + " ".join(digits), " ".join(sorted(digits)))


def count_letter(stream: SeedStream) -> ChatSample:
    target = stream.choice(_LETTERS[:6])
    letters = [stream.choice(_LETTERS[:6]) for _ in range(stream.randint(3, 14))]
    return _chat("count_letter", f"Count the letter {target}: " + " ".join(letters), str(letters.count(target)))


TASKS: dict[str, Callable[[SeedStream], ChatSample]] = {
    "reverse": reverse_letters,
    "brackets": close_brackets,
    "sort_digits": sort_digits,
    "count_letter": count_letter,
}
