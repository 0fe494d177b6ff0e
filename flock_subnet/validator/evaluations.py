"""Evaluating a round's eligible submissions: cache first, downloads overlapped with evaluation.

For each eligible submission, in order (never-admitted ones first, then by uid):
- a remembered refusal scores zero at once (a miner fault);
- a cached result for (content hash, competition, round) is reused - after a restart, and for
  byte-identical copies, which are therefore evaluated once;
- otherwise the model is admitted (downloaded in a background thread while earlier models are
  evaluated) and evaluated in the sandboxed worker. A model that crashes or yields a non-finite
  loss is the miner's fault and is cached as such; a worker timeout or OOM is ours (retried,
  then the miner's score is held).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from loguru import logger

from flock_subnet.errors import Fault
from flock_subnet.evaluation.errors import ModelFault
from flock_subnet.evaluation.warm import WarmWorker
from flock_subnet.rules.competitions import Competition
from flock_subnet.telemetry import progress
from flock_subnet.validator.faults import Backoff, is_validator_fault, retry
from flock_subnet.validator.models import Admission, ModelStore
from flock_subnet.validator.plan import Submission
from flock_subnet.validator.report import EvalStatus
from flock_subnet.validator.state import EvalRecord, ValidatorState


@dataclass
class Outcome:
    """What evaluation decided for one uid this round."""

    status: EvalStatus
    loss: float | None = None
    content_hash: str | None = None
    detail: str = ""


@dataclass
class EvaluationStats:
    evaluated: int = 0
    cached: int = 0
    seconds: list[float] = field(default_factory=list)

    def timings(self) -> dict[str, float]:
        if not self.seconds:
            return {}
        return {
            "eval_s_min": min(self.seconds),
            "eval_s_max": max(self.seconds),
            "eval_s_mean": sum(self.seconds) / len(self.seconds),
        }


class RoundEvaluator:
    """Turns eligible submissions into outcomes, using and filling the state's caches."""

    def __init__(
        self,
        state: ValidatorState,
        models: ModelStore,
        competitions: Mapping[str, Competition],
        timeout_s: float,
        memory_limit_mb: int | None,
        backoff: Backoff,
        sleep: Callable[[float], None] = time.sleep,
        samples: int | None = None,
    ) -> None:
        self.state = state
        self.samples = samples
        self.models = models
        self.competitions = competitions
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.backoff = backoff
        self._sleep = sleep
        self.on_progress: Callable[[], None] | None = None  # called before each model (a heartbeat)
        self._worker: WarmWorker | None = None  # one warm sandbox worker for all models

    @property
    def worker(self) -> WarmWorker:
        if self._worker is None:
            self._worker = WarmWorker(memory_limit_mb=self.memory_limit_mb)
        return self._worker

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _from_cache(self, admission: Admission, competition_id: str, round_block: int) -> Outcome | None:
        assert admission.content_hash is not None
        record = self.state.get_eval(admission.content_hash, competition_id, round_block)
        if record is None:
            return None
        if record.loss is None:
            return Outcome(EvalStatus.MINER_FAULT, None, admission.content_hash, f"model failed: {record.fault}")
        return Outcome(EvalStatus.CACHED, record.loss, admission.content_hash)

    def _evaluate(self, sub: Submission, admission: Admission, round_block: int, seed: int) -> Outcome:
        competition_id = sub.competition_id
        content_hash = admission.content_hash
        assert competition_id is not None and content_hash is not None and admission.model_dir is not None
        assert sub.reference is not None
        logger.info("evaluating uid {} {} on round {}", sub.uid, sub.reference.short, round_block)
        extra = {} if self.samples is None else {"samples": self.samples}
        try:
            result = retry(
                lambda: self.worker.evaluate(admission.model_dir, competition_id, seed, timeout_s=self.timeout_s, **extra),
                f"evaluation of uid {sub.uid}",
                self.backoff,
                sleep=self._sleep,
            )
        except ModelFault as exc:
            self.state.put_eval(EvalRecord(content_hash, competition_id, round_block, seed, None, fault=str(exc)))
            return Outcome(EvalStatus.MINER_FAULT, None, content_hash, f"model failed: {exc}")
        except Exception as exc:
            if not is_validator_fault(exc):
                logger.exception("evaluation of uid {} failed unexpectedly; holding its score", sub.uid)
            return Outcome(EvalStatus.HELD, None, content_hash, f"evaluation failed on our side: {exc}")
        if not math.isfinite(result.loss):
            self.state.put_eval(EvalRecord(content_hash, competition_id, round_block, seed, None, fault="non-finite loss"))
            return Outcome(EvalStatus.MINER_FAULT, None, content_hash, "model failed: non-finite loss")
        self.state.put_eval(
            EvalRecord(
                content_hash, competition_id, round_block, seed, float(result.loss),
                samples=result.samples, tokens=result.tokens, seconds=result.seconds,
                tokens_per_s=result.tokens_per_s, per_task=dict(result.per_task),
            )
        )
        logger.info("uid {} loss {:.4f} ({:.1f}s)", sub.uid, result.loss, result.seconds)
        return Outcome(EvalStatus.EVALUATED, float(result.loss), content_hash)

    def run(self, submissions: list[Submission], rounds: Mapping[str, tuple[int, int]]) -> tuple[dict[int, Outcome], EvaluationStats]:
        """Outcomes for `submissions` (all eligible); `rounds` maps competition id -> (round block, seed)."""
        outcomes: dict[int, Outcome] = {}
        stats = EvaluationStats()
        to_run: list[tuple[Submission, Admission | None]] = []
        for sub in submissions:
            assert sub.competition_id is not None
            round_block = rounds[sub.competition_id][0]
            cached = self.models.cached(sub)
            if cached is not None and not cached.ok:
                outcomes[sub.uid] = Outcome(EvalStatus.MINER_FAULT, None, cached.content_hash, "refused: " + "; ".join(cached.reasons))
                continue
            if cached is not None:
                hit = self._from_cache(cached, sub.competition_id, round_block)
                if hit is not None:
                    outcomes[sub.uid] = hit
                    continue
                if cached.has_files:
                    to_run.append((sub, cached))
                    continue
            to_run.append((sub, None))
        to_run.sort(key=lambda item: (item[1] is not None, item[0].uid))
        futures = self.models.prefetch(
            [(sub, self.competitions[sub.competition_id]) for sub, adm in to_run if adm is None]  # type: ignore[index]
        )
        try:
            for sub, admission in progress(to_run, "evaluating", total=len(to_run), unit="model"):
                assert sub.competition_id is not None
                if self.on_progress is not None:
                    self.on_progress()
                round_block, seed = rounds[sub.competition_id]
                if admission is None:
                    admission = futures[sub.uid].result()
                    if admission.fault == Fault.VALIDATOR:
                        outcomes[sub.uid] = Outcome(EvalStatus.HELD, None, None, "download failed on our side: " + "; ".join(admission.reasons))
                        continue
                    if not admission.ok:
                        outcomes[sub.uid] = Outcome(EvalStatus.MINER_FAULT, None, admission.content_hash, "refused: " + "; ".join(admission.reasons))
                        continue
                hit = self._from_cache(admission, sub.competition_id, round_block)
                if hit is not None:  # a byte-identical model was evaluated earlier this round
                    outcomes[sub.uid] = hit
                    continue
                started = time.monotonic()
                outcome = self._evaluate(sub, admission, round_block, seed)
                outcomes[sub.uid] = outcome
                if outcome.status == EvalStatus.EVALUATED:
                    stats.seconds.append(time.monotonic() - started)
        finally:
            for future in futures.values():
                future.cancel()
        stats.evaluated = len(stats.seconds)
        stats.cached = sum(1 for o in outcomes.values() if o.status == EvalStatus.CACHED)
        return outcomes, stats
