"""Test helpers for the evaluator: a naive reference loss and altered copies of the micro model."""

from __future__ import annotations

import shutil
from pathlib import Path

from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.data import ChatSample, encode_chat


def naive_loss(model_dir: Path, samples: list[ChatSample], competition: Competition) -> tuple[float, dict[str, float], int]:
    """Per-sample forward, full logits at every position, shifted cross-entropy over the labels."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    total, count, tasks = 0.0, 0, {}
    with torch.inference_mode():
        for sample in samples:
            encoded = encode_chat(tokenizer, sample, competition.sequence_length)
            logits = model(torch.tensor([encoded.input_ids])).logits[0]
            labels = torch.tensor(encoded.labels)
            losses = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100, reduction="none")
            scored = labels[1:] != -100
            s, n = float(losses[scored].double().sum()), int(scored.sum())
            total += s
            count += n
            entry = tasks.setdefault(sample.task, [0.0, 0])
            entry[0] += s
            entry[1] += n
    return total / count, {task: s / n for task, (s, n) in tasks.items()}, count


def altered_copy(source: Path, dest: Path, change) -> Path:
    """Copy a checkpoint and rewrite its weights with `change(dict name -> tensor)`."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, dest)
    weights = load_file(dest / "model.safetensors")
    change(weights)
    save_file(weights, dest / "model.safetensors", metadata={"format": "pt"})
    return dest


def mixed_samples() -> list[ChatSample]:
    """Samples with little in common: other system prompts, several turns, a prompt that must be cut."""
    return [
        ChatSample("chat", [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello there!"}]),
        ChatSample(
            "chat",
            [
                {"role": "system", "content": "Answer with one word."},
                {"role": "user", "content": "Colour of the sky?"},
                {"role": "assistant", "content": "Blue"},
                {"role": "user", "content": "And grass?"},
                {"role": "assistant", "content": "Green"},
            ],
        ),
        ChatSample("long", [{"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "That was long."}]),
        ChatSample("chat", [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"},
                            {"role": "assistant", "content": "4"}]),
    ]
