"""Chat samples: the unit of training and evaluation data, and seeded draws from a pool.

A `ChatSample` is a task name and chat `messages` (system/user/assistant dicts); the last
message is the assistant answer that is scored. A pool row holds `messages` (and optionally
`task`), or the flat form `prompt` + `completion` (or `response`) with an optional `system`.
Reading and writing pool files is I/O and lives in `flock_subnet.evaluation.samples`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flock_subnet.errors import FlockError
from flock_subnet.rules.data.rng import SeedStream

ROLES = ("system", "user", "assistant")


class DataError(FlockError):
    """A sample or data file is malformed; the message names the row and what is wrong."""


@dataclass(frozen=True)
class ChatSample:
    task: str
    messages: list[dict] = field(hash=False)

    def __post_init__(self) -> None:
        validate_messages(self.messages)

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]

    @property
    def prompt_messages(self) -> list[dict]:
        return self.messages[:-1]

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "messages": [dict(m) for m in self.messages]}

    @classmethod
    def from_dict(cls, row: dict[str, Any], default_task: str = "pool") -> "ChatSample":
        return cls(task=str(row.get("task") or default_task), messages=_messages_of(row))


def validate_messages(messages: list[dict]) -> None:
    if not isinstance(messages, list) or len(messages) < 2:
        raise DataError("a sample needs at least a user message and the assistant answer")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise DataError(f"message {i} must be a dict with role one of {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise DataError(f"message {i} ({message.get('role')}) must have text content")
    if messages[-1]["role"] != "assistant":
        raise DataError("the last message must be the assistant answer")
    if not messages[-1]["content"]:
        raise DataError("the assistant answer is empty")


def _messages_of(row: dict[str, Any]) -> list[dict]:
    if row.get("messages") is not None:
        return [{"role": m.get("role"), "content": m.get("content")} for m in row["messages"]]
    prompt = row.get("prompt")
    answer = row.get("completion") if row.get("completion") is not None else row.get("response")
    if prompt is None or answer is None:
        raise DataError("a row needs 'messages', or 'prompt' and 'completion' (or 'response')")
    messages = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return messages + [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def sample_pool(samples: list[ChatSample], seed: int, k: int, domain: str = "pool") -> list[ChatSample]:
    """`k` distinct samples (all of them if fewer), chosen and ordered by `seed`; the same on every machine."""
    stream = SeedStream("flock/pool/v1", domain, seed)
    return [samples[i] for i in stream.sample_indices(len(samples), k)]
