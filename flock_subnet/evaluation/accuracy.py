"""Greedy-decoded exact-match accuracy on a seeded subset of a round: a report and a gate, not the rank.

`measure_accuracy(model, tokenizer, samples, device)` (or `evaluate_accuracy(model_dir, ...)`,
which loads the model first) renders each prompt with the base tokenizer's chat template,
decodes greedily in left-padded batches (prompts sorted by length, so a batch wastes little padding), stops at the end-of-turn token, and compares the reply with
the gold answer after trimming and collapsing whitespace; a generated task's reply also counts
when the generator's own scorer gives it full marks. Every model gets the same budget of
new tokens: the longest gold answer in the subset plus a margin. Ranking stays on the
teacher-forced loss, which is far less noisy on a few hundred samples.

`round_accuracy` is what every evaluation of a round runs (`loss.evaluate_loss`, so the
validators' sandboxed workers and `flock-subnet eval` agree): `accuracy_samples` of the round
chosen by a seed taken from the round's own digest, scored with the generators' scorers.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flock_subnet.evaluation.loading import load_model, load_tokenizer
from flock_subnet.evaluation.samples import known_scorers, scorer_key
from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.data import ChatSample, sample_pool, samples_digest

ACCURACY_DOMAIN = "flock/accuracy/v1"
NEW_TOKEN_MARGIN = 4
END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>")


@dataclass
class AccuracyResult:
    accuracy: float
    per_task: dict[str, float]
    samples: int
    correct: int
    generated_tokens: int
    seconds: float
    predictions: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        info = asdict(self)
        info.pop("predictions")
        return info


def normalize(text: str) -> str:
    """The reply as compared: end-of-turn markers cut, whitespace trimmed and collapsed."""
    for marker in END_MARKERS:
        text = text.split(marker, 1)[0]
    return " ".join(text.split())


def exact_match(prediction: str, answer: str) -> bool:
    return normalize(prediction) == normalize(answer)


def accuracy_subset(samples: Sequence[ChatSample], k: int, seed: int) -> list[ChatSample]:
    """`k` samples of the round chosen by `seed` (all of them if fewer): the same on every machine."""
    return sample_pool(list(samples), seed, k, domain=ACCURACY_DOMAIN)


def prompt_ids(tokenizer: Any, samples: Sequence[ChatSample]) -> list[list[int]]:
    """Each sample's prompt rendered with the chat template (generation prompt added), as token ids."""
    rendered = [
        tokenizer.apply_chat_template(s.prompt_messages, tokenize=False, add_generation_prompt=True) for s in samples
    ]
    return [list(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in rendered]


def _stop_ids(tokenizer: Any) -> list[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for marker in END_MARKERS:
        token = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token, int) and token != tokenizer.unk_token_id and token >= 0:
            ids.add(token)
    return sorted(ids)


def generate_replies(
    model: Any, tokenizer: Any, prompts: list[list[int]], max_new_tokens: int, batch_size: int, device: str
) -> tuple[list[str], int]:
    """Greedy replies to `prompts` (token ids), in their order; and the number of tokens generated."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = _stop_ids(tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: list[str] = [""] * len(prompts)
    generated = 0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            ids[r, width - len(prompts[i]) :] = torch.tensor(prompts[i])
            mask[r, width - len(prompts[i]) :] = 1
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                do_sample=False, num_beams=1, pad_token_id=pad, eos_token_id=stops or None,
            )  # fmt: skip
        for r, i in enumerate(rows):
            new = out[r, width:].tolist()
            cut = next((k for k, tok in enumerate(new) if tok in stops), len(new))
            generated += cut
            replies[i] = tokenizer.decode(new[:cut], skip_special_tokens=True)
    return replies, generated


def is_correct(reply: str, sample: ChatSample, scorer: Callable[[str], float] | None = None) -> bool:
    """An exact match, or full marks from the generator's own scorer (which knows equivalent forms)."""
    return exact_match(reply, sample.answer) or (scorer is not None and scorer(normalize(reply)) >= 1.0)


def subset_seed(samples: Sequence[ChatSample]) -> int:
    """A seed for the accuracy subset taken from the samples' consensus digest (63 bits)."""
    return int(samples_digest(list(samples)).split(":", 1)[1][:16], 16) >> 1


def measure_accuracy(
    model: Any,
    tokenizer: Any,
    samples: Sequence[ChatSample],
    device: str,
    batch_size: int = 32,
    scorers: Mapping[tuple[str, str], Callable[[str], float]] | None = None,
) -> AccuracyResult:
    """Accuracy of a loaded model's greedy replies to `samples` (overall and per task).

    `scorers` (from `samples.round_samples_scored` or `samples.known_scorers`) adds the
    generators' own scorers.
    """
    started = time.perf_counter()
    prompts = prompt_ids(tokenizer, samples)
    longest = max((len(tokenizer(s.answer, add_special_tokens=False)["input_ids"]) for s in samples), default=1)
    replies, generated = generate_replies(model, tokenizer, prompts, longest + NEW_TOKEN_MARGIN, batch_size, device)
    hits: dict[str, list[int]] = defaultdict(list)
    for sample, reply in zip(samples, replies):
        scorer = (scorers or {}).get(scorer_key(sample))
        hits[sample.task].append(int(is_correct(reply, sample, scorer)))
    correct = sum(sum(v) for v in hits.values())
    return AccuracyResult(
        accuracy=correct / len(samples) if samples else float("nan"),
        per_task={task: sum(v) / len(v) for task, v in sorted(hits.items())},
        samples=len(samples),
        correct=correct,
        generated_tokens=generated,
        seconds=time.perf_counter() - started,
        predictions=replies,
    )


def round_accuracy(model: Any, tokenizer: Any, samples: Sequence[ChatSample], k: int, device: str) -> AccuracyResult | None:
    """Accuracy on `k` of a round's samples (chosen by `subset_seed`), or None when `k` is 0."""
    if k <= 0 or not samples:
        return None
    subset = accuracy_subset(samples, k, subset_seed(samples))
    batch_size = 256 if str(device).startswith("cuda") else 32  # one or two batches on an accelerator
    return measure_accuracy(model, tokenizer, subset, device, batch_size, known_scorers(subset))


def evaluate_accuracy(
    model_dir: str | Path,
    samples: Sequence[ChatSample],
    competition: Competition,
    device: str | None = None,
    tokenizer_dir: str | Path | None = None,
    batch_size: int = 32,
    scorers: Mapping[tuple[str, str], Callable[[str], float]] | None = None,
) -> AccuracyResult:
    """Load `model_dir` and measure its accuracy on `samples` (see `measure_accuracy`)."""
    started = time.perf_counter()
    tokenizer = load_tokenizer(model_dir, competition, tokenizer_dir)
    model, device = load_model(model_dir, device)
    result = measure_accuracy(model, tokenizer, samples, device, batch_size, scorers)
    result.seconds = time.perf_counter() - started
    return result
