"""`EvalResult`: what one evaluation of one model on one set of samples measured.

`loss` is the token mean: the cross-entropy summed over every scored answer token of every
sample, divided by the number of those tokens (long answers weigh more, as in training).
`sample_loss` is the sample mean (each sample's own token mean, averaged over samples), kept
for reference. `per_task` holds the token mean per task. `tokens` counts every token the
model read (prompt and answer); `tokens_per_s` is `tokens / seconds`, where `seconds` is the
scoring time only (`load_seconds` covers loading the model and tokenizing the samples).
`accuracy` (None when not measured) is greedy exact-match accuracy on `accuracy_samples` of
the samples (`evaluation.accuracy`), with `accuracy_per_task`, its cost in `accuracy_seconds`
and `generated_tokens`: a report and a gate, never the ranking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class EvalResult:
    loss: float
    samples: int
    tokens: int
    tokens_per_s: float
    seconds: float
    per_task: dict[str, float] = field(default_factory=dict)
    answer_tokens: int = 0
    sample_loss: float = float("nan")
    load_seconds: float = 0.0
    device: str = "cpu"
    dtype: str = "float32"
    accuracy: float | None = None
    accuracy_per_task: dict[str, float] = field(default_factory=dict)
    accuracy_samples: int = 0
    accuracy_seconds: float = 0.0
    generated_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalResult":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["per_task"] = dict(values.get("per_task") or {})
        values["accuracy_per_task"] = dict(values.get("accuracy_per_task") or {})
        return cls(**values)
