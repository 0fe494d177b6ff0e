"""What the validator state holds, as dataclasses, and how each is read back from a table row."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flock_subnet.errors import FlockError


class StateError(FlockError):
    """The state file cannot be used as it is; the message says what to do."""


@dataclass(frozen=True)
class EvalRecord:
    """One model's evaluation on one round's hidden data (`loss` None with `fault` = its model failed)."""

    content_hash: str
    competition_id: str
    round_block: int
    seed: int
    loss: float | None
    fault: str | None = None
    samples: int = 0
    tokens: int = 0
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    per_task: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None  # greedy exact-match accuracy on the round's accuracy subset
    accuracy_per_task: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AdmissionRecord:
    """The outcome of admitting one committed reference (`reference` is the commitment text)."""

    hotkey: str
    revision: str
    reference: str
    ok: bool
    reasons: list[str]
    content_hash: str | None
    parameters: int | None
    model_dir: str | None


@dataclass(frozen=True)
class WeightSet:
    """One attempt to set weights: the vector sent and the chain's answer."""

    block: int | None
    round_block: int | None
    uids: list[int]
    weights: list[float]
    ok: bool
    message: str = ""
    version_key: int | None = None
    created_at: float = 0.0


class SubmissionState(str, enum.Enum):
    """Where one weight submission stands; values are what SQLite and `validator status` hold.

    Plain subnets: `set` or `refused`. Commit-reveal subnets: `committed`, then `revealed` once the
    chain's row for this uid shows the committed weights, or `dropped` when the reveal window
    passed without it (the chain drops a failing reveal without an error).
    """

    SET = "set"
    COMMITTED = "committed"
    REVEALED = "revealed"
    DROPPED = "dropped"
    REFUSED = "refused"


@dataclass(frozen=True)
class WeightSubmission:
    """One submission of weights: what was sent (or refused locally) and what became of it."""

    round_block: int | None
    block: int | None
    state: SubmissionState
    reason: str
    uids: list[int]
    weights: list[float]
    version_key: int | None = None
    reveal_by: int | None = None  # commit-reveal: the block by which the reveal must show on chain
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "round_block": self.round_block, "block": self.block, "state": self.state.value,
            "reason": self.reason, "version_key": self.version_key, "reveal_by": self.reveal_by,
        }


@dataclass(frozen=True)
class RoundProgress:
    """Where one competition's round stands."""

    competition_id: str
    round_block: int
    seed: int
    status: str  # "in_progress" or "done"
    started_at: float
    finished_at: float | None


@dataclass(frozen=True)
class FaultRecord:
    """One logged fault: a miner's (scores zero) or the validator's own (retried)."""

    round_block: int | None
    competition_id: str | None
    uid: int | None
    hotkey: str | None
    kind: str  # "miner" or "validator"
    reason: str
    created_at: float


EVAL_COLUMNS = (
    "content_hash, competition_id, round_block, seed, loss, fault, samples, tokens, seconds, tokens_per_s, per_task, "
    "accuracy, accuracy_per_task"
)
ADMISSION_COLUMNS = "hotkey, revision, reference, ok, reasons, content_hash, parameters, model_dir"
ROUND_COLUMNS = "competition_id, round_block, seed, status, started_at, finished_at"
WEIGHT_SET_COLUMNS = "block, round_block, uids, weights, ok, message, version_key, created_at"
FAULT_COLUMNS = "round_block, competition_id, uid, hotkey, kind, reason, created_at"
SUBMISSION_COLUMNS = "id, round_block, block, state, reason, uids, weights, version_key, reveal_by"


def eval_from_row(row: Sequence[Any]) -> EvalRecord:
    content_hash, competition_id, round_block, seed, loss, fault, samples, tokens, seconds, tps, per_task = row[:11]
    accuracy, accuracy_per_task = row[11:13]
    return EvalRecord(
        content_hash=content_hash, competition_id=competition_id, round_block=int(round_block), seed=int(seed),
        loss=None if loss is None else float(loss), fault=fault, samples=int(samples or 0), tokens=int(tokens or 0),
        seconds=float(seconds or 0.0), tokens_per_s=float(tps or 0.0), per_task=json.loads(per_task or "{}"),
        accuracy=None if accuracy is None else float(accuracy), accuracy_per_task=json.loads(accuracy_per_task or "{}"),
    )


def admission_from_row(row: Sequence[Any]) -> AdmissionRecord:
    hotkey, revision, reference, ok, reasons, content_hash, parameters, model_dir = row
    return AdmissionRecord(
        hotkey=hotkey, revision=revision, reference=reference, ok=bool(ok), reasons=list(json.loads(reasons)),
        content_hash=content_hash, parameters=parameters, model_dir=model_dir,
    )


def round_from_row(row: Sequence[Any]) -> RoundProgress:
    competition_id, round_block, seed, status, started_at, finished_at = row
    return RoundProgress(competition_id, int(round_block), int(seed), status, started_at, finished_at)


def weight_set_from_row(row: Sequence[Any]) -> WeightSet:
    block, round_block, uids, weights, ok, message, version_key, created_at = row
    return WeightSet(
        block, round_block, json.loads(uids), json.loads(weights), bool(ok), message or "", version_key, created_at
    )


def fault_from_row(row: Sequence[Any]) -> FaultRecord:
    return FaultRecord(*row)


def submission_from_row(row: Sequence[Any]) -> WeightSubmission:
    id_, round_block, block, state, reason, uids, weights, version_key, reveal_by = row
    return WeightSubmission(
        round_block, block, SubmissionState(state), reason or "", json.loads(uids), json.loads(weights),
        version_key, reveal_by, id_,
    )
