"""Batched, length-bucketed, answer-only loss of a causal language model.

`evaluate_loss(model_dir, samples, competition)` loads the checkpoint from disk (safetensors
only, no remote code, no network), encodes the samples with `data.encode_chat` and the
competition's base tokenizer (`load_tokenizer`), and scores them in batches planned by `batching.plan_batches`:

- each batch runs its shared prefix once and reuses the keys/values for all its rows;
- the decoder's hidden states are gathered at the positions that predict answer tokens only,
  and the language-model head is applied to those rows only: no full-vocabulary logits at
  prompt positions; the last layer's MLP also runs on those rows only (`sparse_mlp`);
- float32 on CPU, bfloat16 with SDPA attention on CUDA; `torch.inference_mode`; the same
  plan and the same arithmetic on every run.

The loss is the token mean over answer tokens (see `result.EvalResult`). Failures are told
apart by exception type and by where they happen, never by message text: anything raised while
loading the miner's files, tokenizing with them or running the model's forward pass is a
`ModelFault`, except `MemoryError` and torch's out-of-memory and accelerator errors, which are
`EvaluatorFault`s (a validator then runs its control evaluation of the base model to decide).
A shared-prefix cache the installed transformers ignored raises `EvaluatorFault`: losses would
silently change, so the evaluation stops instead.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flock_subnet.evaluation.accuracy import round_accuracy
from flock_subnet.evaluation.batching import Batch, plan_batches
from flock_subnet.evaluation.errors import EvaluatorFault, ModelFault
from flock_subnet.evaluation.loading import blame, load_model, load_tokenizer
from flock_subnet.evaluation.result import EvalResult
from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.data.encoding import IGNORE_INDEX, EncodedSample, encode_chat
from flock_subnet.rules.data.samples import ChatSample

# Logit transforms the head-only path would miss; models that declare one are scored with full logits.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


@dataclass
class LossTotals:
    """Per-sample sums of answer-token cross-entropy and answer-token counts."""

    loss_sums: list[float]
    token_counts: list[int]

    @property
    def loss(self) -> float:
        tokens = sum(self.token_counts)
        return sum(self.loss_sums) / tokens if tokens else float("nan")


def encode_samples(tokenizer: Any, samples: Sequence[ChatSample], max_length: int) -> list[EncodedSample]:
    try:
        return [encode_chat(tokenizer, sample, max_length) for sample in samples]
    except Exception as exc:
        raise blame(exc, "tokenizing the samples") from exc


def _head_only(model: Any) -> bool:
    config = model.config
    if any(getattr(config, name, None) not in (None, 1, 1.0) for name in _LOGIT_TRANSFORMS):
        return False
    return hasattr(model, model.base_model_prefix) and model.get_output_embeddings() is not None


def _scored_positions(sample: EncodedSample) -> tuple[list[int], list[int]]:
    """(positions whose hidden state predicts an answer token, those answer tokens)."""
    positions, targets = [], []
    for t in range(1, len(sample.labels)):
        if sample.labels[t] != IGNORE_INDEX:
            positions.append(t - 1)
            targets.append(sample.labels[t])
    return positions, targets


def score_encoded(
    model: Any,
    encoded: Sequence[EncodedSample],
    max_batch_tokens: int = 4096,
    share_prefixes: bool = True,
    pad_token_id: int = 0,
    batch_overhead_tokens: int | None = None,
) -> LossTotals:
    """Answer-token cross-entropy sums of every sample, batched; the model is used as loaded.

    `batch_overhead_tokens` is the fixed cost of one forward pass counted in tokens, which the
    planner trades against padding (default: 64 on CPU, 2048 on an accelerator).
    """
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    scored = [_scored_positions(sample) for sample in encoded]
    # Feed each sample only up to its last needed hidden state.
    sequences = [list(s.input_ids[: positions[-1] + 1]) if positions else [] for s, (positions, _) in zip(encoded, scored)]
    live = [i for i, (positions, _) in enumerate(scored) if positions]
    head_only = _head_only(model)
    plan = plan_batches(
        [sequences[i] for i in live],
        [scored[i][0][0] for i in live],
        max_batch_tokens,
        share_prefixes=share_prefixes and head_only,
        batch_overhead_tokens=batch_overhead_tokens or (64 if device.type == "cpu" else 2048),
    )
    loss_sums = [0.0] * len(encoded)
    counts = [len(targets) for _, targets in scored]
    with torch.inference_mode():
        for batch in plan:
            rows = [live[i] for i in batch.indices]
            per_token, owners = _score_batch(model, batch, rows, sequences, scored, pad_token_id, head_only, device, F, torch)
            values = per_token.double().cpu().tolist()
            for owner, value in zip(owners, values):
                loss_sums[owner] += value
    return LossTotals(loss_sums=loss_sums, token_counts=counts)


def check_cache_used(cache: Any, expected_length: int, what: str) -> None:
    """`EvaluatorFault` unless the key/value cache holds `expected_length` positions after `what`.

    The evaluator hands the model a cache of the shared prefix; a transformers release that
    stopped reading (or filling) `past_key_values` would silently score every row without its
    prefix. That is the validator's environment failing, so it must stop, loudly.
    """
    length = int(cache.get_seq_length())
    if length != expected_length:
        raise EvaluatorFault(
            f"the model ignored the shared-prefix cache while running {what} ({length} cached positions, "
            f"expected {expected_length}); the installed transformers is not supported: reinstall the "
            "version flock-subnet pins (pip install -e .)"
        )


def _score_batch(model, batch: Batch, rows, sequences, scored, pad_token_id, head_only, device, F, torch):
    prefix, width = batch.prefix, batch.width
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    for r, owner in enumerate(rows):
        tail = sequences[owner][prefix:]
        ids[r, : len(tail)] = torch.tensor(tail, dtype=torch.long)
    ids = ids.to(device)
    position_ids = torch.arange(prefix, prefix + width, device=device).unsqueeze(0).expand(len(rows), -1)
    row_index, col_index, targets, owners = [], [], [], []
    for r, owner in enumerate(rows):
        positions, answer = scored[owner]
        row_index.extend([r] * len(positions))
        col_index.extend(p - prefix for p in positions)
        targets.extend(answer)
        owners.extend([owner] * len(positions))
    rows_t = torch.tensor(row_index, device=device)
    cols_t = torch.tensor(col_index, device=device)
    targets_t = torch.tensor(targets, device=device)
    if head_only:
        decoder = getattr(model, model.base_model_prefix)
        cache = None
        if prefix:
            from transformers import DynamicCache

            cache = DynamicCache(config=model.config)
            head_ids = torch.tensor([sequences[rows[0]][:prefix]], dtype=torch.long, device=device)
            decoder(input_ids=head_ids, past_key_values=cache, use_cache=True)
            check_cache_used(cache, prefix, "the shared prefix")
            cache.batch_repeat_interleave(len(rows))
        from flock_subnet.evaluation.sparse_mlp import scored_rows_only

        with scored_rows_only(model, decoder, rows_t * width + cols_t):
            hidden = decoder(
                input_ids=ids, position_ids=position_ids, past_key_values=cache, use_cache=cache is not None
            ).last_hidden_state
        if cache is not None:
            check_cache_used(cache, prefix + width, "the batch after its shared prefix")
        logits = model.get_output_embeddings()(hidden[rows_t, cols_t])
    else:
        logits = model(input_ids=ids, position_ids=position_ids, use_cache=False).logits[rows_t, cols_t]
    per_token = F.cross_entropy(logits.float(), targets_t, reduction="none")
    return per_token, owners


def _result(
    encoded: Sequence[EncodedSample], totals: LossTotals, seconds: float, load_seconds: float, device: str, dtype: str
) -> EvalResult:
    tokens = sum(len(s.input_ids) for s in encoded)
    by_task: dict[str, list[float]] = {}
    sample_means = []
    for sample, loss_sum, count in zip(encoded, totals.loss_sums, totals.token_counts):
        if count:
            entry = by_task.setdefault(sample.task, [0.0, 0])
            entry[0] += loss_sum
            entry[1] += count
            sample_means.append(loss_sum / count)
    return EvalResult(
        loss=totals.loss,
        samples=len(encoded),
        tokens=tokens,
        tokens_per_s=tokens / seconds if seconds > 0 else float("inf"),
        seconds=seconds,
        per_task={task: s / n for task, (s, n) in sorted(by_task.items())},
        answer_tokens=sum(totals.token_counts),
        sample_loss=sum(sample_means) / len(sample_means) if sample_means else float("nan"),
        load_seconds=load_seconds,
        device=device,
        dtype=dtype,
    )


def evaluate_loss(
    model_dir: str | Path,
    samples: Sequence[ChatSample],
    competition: Competition,
    device: str | None = None,
    max_batch_tokens: int | None = None,
    tokenizer_dir: str | Path | None = None,
    accuracy_samples: int | None = None,
) -> EvalResult:
    """Load `model_dir` and return its answer-only loss on `samples` (in this process).

    The samples are encoded with the competition's base tokenizer (`load_tokenizer`). The
    result also carries greedy accuracy on `accuracy_samples` of them (default: the
    competition's `[accuracy] samples`; 0: not measured), from the same loaded model.
    """
    if not samples:
        raise EvaluatorFault("no samples to evaluate")
    started = time.perf_counter()
    model, device = load_model(model_dir, device)
    tokenizer = load_tokenizer(model_dir, competition, tokenizer_dir)
    encoded = encode_samples(tokenizer, samples, competition.sequence_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    budget = max_batch_tokens or competition.eval_batch_tokens
    load_seconds = time.perf_counter() - started
    scoring_started = time.perf_counter()
    try:
        totals = score_encoded(model, encoded, budget, pad_token_id=pad)
    except Exception as exc:
        raise blame(exc, "the model's forward pass") from exc
    seconds = time.perf_counter() - scoring_started
    result = _result(encoded, totals, seconds, load_seconds, device, str(next(model.parameters()).dtype).replace("torch.", ""))
    if not math.isfinite(result.loss):
        raise ModelFault(f"the model's loss is not finite ({result.loss}); its weights or config produce NaN/inf")
    k = competition.accuracy_samples if accuracy_samples is None else accuracy_samples
    try:
        accuracy = round_accuracy(model, tokenizer, samples, k, device)
    except Exception as exc:
        raise blame(exc, "greedy decoding for accuracy") from exc
    if accuracy is None:
        return result
    return dataclasses.replace(
        result, accuracy=accuracy.accuracy, accuracy_per_task=dict(accuracy.per_task), accuracy_samples=accuracy.samples,
        accuracy_seconds=accuracy.seconds, generated_tokens=accuracy.generated_tokens,
    )
