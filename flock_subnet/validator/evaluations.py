"""Evaluating a round's eligible submissions: cache first, downloads overlapped with evaluation.

For each eligible submission, in order (never-admitted ones first, then by uid):
- a remembered refusal scores zero at once (a miner fault);
- a cached result for (content hash, competition, round) is reused - after a restart, and for
  byte-identical copies, which are therefore evaluated once;
- otherwise the model is admitted (downloaded in a background thread while other models are
  evaluated; downloads are taken as they finish, so a slow repo holds up no one else) and
  evaluated in the sandboxed worker, with the base model's tokenizer.

Whose fault a failed evaluation is, is decided by provenance, never by an error's text: the
only thing that differs between the miner's evaluation and a *control run* of the competition's
base model (a fresh worker on the same device, same limits, same samples) is the miner's bytes.
After a failure the control is run on the device that failed (once per device, competition and
round; again after a timeout or a dead worker, in case the device itself broke): if it fails
too, the device is taken out of the pool and the model is tried on another device, never blamed
on the miner, and with no device left the model is held; if it passes, a model fault stands,
and a timeout or a dead worker gets one more try before it is the miner's fault. Miner faults
are cached like losses.

Models are evaluated in parallel, one per device of the evaluation pool (`evaluation.pool`: one
warm worker per GPU, or as configured): a thread per device takes the next model. Byte-identical
copies wait for the first one's result (the cache), and outcomes come back keyed by uid,
whichever device ran them (`Outcome.device` says which).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from flock_subnet.errors import Fault
from flock_subnet.evaluation.errors import EvaluatorFault, ModelFault
from flock_subnet.evaluation.pool import DeviceSpec, Slot, WorkerPool, plan_devices
from flock_subnet.evaluation.result import EvalResult
from flock_subnet.rules.competitions import Competition
from flock_subnet.telemetry import progress
from flock_subnet.validator.faults import Backoff
from flock_subnet.validator.models import Admission, ModelStore
from flock_subnet.validator.plan import Submission
from flock_subnet.validator.report import EvalStatus
from flock_subnet.validator.state import EvalRecord, ValidatorState

_HEARTBEAT_S = 30.0  # how often a round waiting on downloads says it is alive


@dataclass
class Outcome:
    """What evaluation decided for one uid this round."""

    status: EvalStatus
    loss: float | None = None
    content_hash: str | None = None
    detail: str = ""
    device: str = ""  # the pool device whose worker decided it ("" when no worker did)
    accuracy: float | None = None  # greedy exact-match accuracy, where the competition measures it


@dataclass(frozen=True)
class DeviceFailure:
    """A device failed the base model's control run after failing a model: the device's fault."""

    detail: str


@dataclass(frozen=True)
class Control:
    """The control run of one competition's base model in one round: did it pass, and if not, why."""

    passed: bool
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
        devices: Sequence[str] | None = None,
        workers: int | None = None,
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
        self.devices: list[DeviceSpec] = plan_devices(devices, workers)  # `evaluation.pool`'s table
        self._pool: WorkerPool | None = None  # one warm sandbox worker per device
        self._controls: dict[tuple[str, str, int, int], Control] = {}  # (device, competition, round, seed)
        self._lock = threading.Lock()
        self.control_runs = 0

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(self.devices, memory_limit_mb=self.memory_limit_mb)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _from_cache(self, admission: Admission, competition_id: str, round_block: int) -> Outcome | None:
        assert admission.content_hash is not None
        record = self.state.get_eval(admission.content_hash, competition_id, round_block)
        if record is None:
            return None
        if record.loss is None:
            return Outcome(EvalStatus.MINER_FAULT, None, admission.content_hash, f"model failed: {record.fault}")
        return Outcome(EvalStatus.CACHED, record.loss, admission.content_hash, accuracy=record.accuracy)

    def _run(self, slot: Slot, model_dir: Path, competition_id: str, seed: int) -> EvalResult:
        competition = self.competitions[competition_id]
        extra: dict[str, object] = {} if self.samples is None else {"samples": self.samples}
        if competition.base.tiny is None:  # score with the base tokenizer, whatever the checkpoint ships
            extra["tokenizer_dir"] = self.models.base_dir(competition)
        try:
            return slot.worker.evaluate(model_dir, competition_id, seed, timeout_s=self.timeout_s, **extra)
        finally:
            slot.note_job()

    def control(self, slot: Slot, competition_id: str, round_block: int, seed: int, again: bool = False) -> Control:
        """Evaluate the base model on this round's samples on `slot`'s device, in a fresh worker.

        Once per device and round, unless `again`: a worker that crashed or hung may mean the
        device itself broke since its last control.
        """
        key = (slot.name, competition_id, round_block, seed)
        with self._lock:
            known = None if again else self._controls.get(key)
            if known is None:
                self.control_runs += 1
        if known is not None:
            return known
        slot.worker.close()  # a fresh worker with the same limits: nothing a failed model left behind counts
        try:
            base = self.models.base_dir(self.competitions[competition_id])
            result = self._run(slot, base, competition_id, seed)
            passed = math.isfinite(result.loss)
            control = Control(passed, "" if passed else f"non-finite base loss {result.loss}")
        except Exception as exc:  # whatever broke the base model's evaluation is on our side
            control = Control(False, f"{type(exc).__name__}: {exc}")
        logger.info("control run of {}'s base model on round {} ({}): {}", competition_id, round_block, slot.name,
                    "passed" if control.passed else f"failed ({control.detail})")
        with self._lock:
            self._controls = {k: v for k, v in self._controls.items() if k[1] != competition_id or k[2] == round_block}
            self._controls[key] = control
        return control

    def _miner_fault(
        self, content_hash: str, competition_id: str, round_block: int, seed: int, detail: str, device: str
    ) -> Outcome:
        self.state.put_eval(EvalRecord(content_hash, competition_id, round_block, seed, None, fault=detail))
        return Outcome(EvalStatus.MINER_FAULT, None, content_hash, f"model failed: {detail}", device)

    def _evaluate(self, sub: Submission, admission: Admission, round_block: int, seed: int) -> Outcome:
        """The model's outcome on the first device that can evaluate; held when no device is left."""
        last = "no evaluation device is left in the pool this round"
        while True:
            slot = self.pool.acquire()
            if slot is None:
                detail = last if last.startswith("evaluation failed") else f"evaluation failed on our side: {last}"
                return Outcome(EvalStatus.HELD, None, admission.content_hash, detail)
            try:
                outcome = self._evaluate_on(slot, sub, admission, round_block, seed)
                if isinstance(outcome, DeviceFailure):
                    self.pool.remove(slot, outcome.detail)
                    last = outcome.detail
                    continue
                return outcome
            finally:
                self.pool.release(slot)

    def _evaluate_on(
        self, slot: Slot, sub: Submission, admission: Admission, round_block: int, seed: int
    ) -> Outcome | DeviceFailure:
        competition_id = sub.competition_id
        content_hash = admission.content_hash
        assert competition_id is not None and content_hash is not None and admission.model_dir is not None
        assert sub.reference is not None
        logger.info("evaluating uid {} {} on round {} ({})", sub.uid, sub.reference.short, round_block, slot.name)
        model_dir = admission.model_dir
        failure: Exception | None = None
        result: EvalResult | None = None
        for attempt in range(2):
            try:
                result = self._run(slot, model_dir, competition_id, seed)
                break
            except Exception as exc:
                failure = exc
            again = isinstance(failure, EvaluatorFault) and attempt == 0
            control = self.control(slot, competition_id, round_block, seed, again=again)
            if not control.passed:
                return DeviceFailure(
                    f"evaluation failed on our side: {failure} (the base model's control run failed too: {control.detail})"
                )
            if isinstance(failure, ModelFault) or attempt == 1:
                break
            logger.warning("uid {}: {}; the base model passes on {}, trying once more", sub.uid, failure, slot.name)
            self._sleep(self.backoff.delay(0))
        if result is None:
            assert failure is not None
            if not model_dir.is_dir():  # our own files went missing: nothing the miner sent
                return Outcome(EvalStatus.HELD, None, content_hash, f"evaluation failed on our side: {model_dir} is gone")
            if not isinstance(failure, (ModelFault, EvaluatorFault)):
                logger.opt(exception=failure).warning("evaluation of uid {} failed unexpectedly", sub.uid)
            detail = f"{failure}" if isinstance(failure, ModelFault) else (
                f"{failure}; the competition's base model passes under the same limits"
            )
            return self._miner_fault(content_hash, competition_id, round_block, seed, detail, slot.name)
        if not math.isfinite(result.loss):
            return self._miner_fault(content_hash, competition_id, round_block, seed, "non-finite loss", slot.name)
        self.state.put_eval(
            EvalRecord(
                content_hash, competition_id, round_block, seed, float(result.loss),
                samples=result.samples, tokens=result.tokens, seconds=result.seconds,
                tokens_per_s=result.tokens_per_s, per_task=dict(result.per_task),
                accuracy=result.accuracy, accuracy_per_task=dict(result.accuracy_per_task),
            )
        )
        logger.info("uid {} loss {:.4f} ({:.1f}s on {})", sub.uid, result.loss, result.seconds, slot.name)
        return Outcome(EvalStatus.EVALUATED, float(result.loss), content_hash, device=slot.name, accuracy=result.accuracy)

    def _timed(self, sub: Submission, admission: Admission, round_block: int, seed: int) -> tuple[Outcome, float]:
        started = time.monotonic()
        outcome = self._evaluate(sub, admission, round_block, seed)
        return outcome, time.monotonic() - started

    def _in_turn(
        self, to_run: list[tuple[Submission, Admission | None]], futures: Mapping[int, Future[Admission]]
    ) -> Iterator[tuple[Submission, Admission, bool]]:
        """(submission, admission, just downloaded): models on disk first, then downloads as each one ends.

        A slow download holds up no other model: everything already on disk is evaluated while
        it runs, and the others' downloads are taken in the order they finish.
        """
        for sub, admission in to_run:
            if admission is not None:
                yield sub, admission, False
        waiting = {futures[sub.uid]: sub for sub, admission in to_run if admission is None}
        while waiting:
            done, _ = wait(waiting, timeout=_HEARTBEAT_S, return_when=FIRST_COMPLETED)
            if not done and self.on_progress is not None:
                self.on_progress()  # still alive, waiting on a download
            for future in sorted(done, key=lambda f: waiting[f].uid):
                yield waiting.pop(future), future.result(), True

    def _collect(
        self, jobs: dict[Future[tuple[Outcome, float]], Submission], outcomes: dict[int, Outcome],
        stats: EvaluationStats, block: bool,
    ) -> None:
        """Move finished evaluations into `outcomes`; with `block`, wait (with heartbeats) for all of them."""
        while jobs:
            done, _ = wait(jobs, timeout=_HEARTBEAT_S if block else 0, return_when=FIRST_COMPLETED)
            if not done:
                if not block:
                    return
                if self.on_progress is not None:
                    self.on_progress()  # still alive, evaluating
                continue
            for future in sorted(done, key=lambda f: jobs[f].uid):
                sub = jobs.pop(future)
                outcome, seconds = future.result()
                outcomes[sub.uid] = outcome
                if outcome.status == EvalStatus.EVALUATED:
                    stats.seconds.append(seconds)

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
        self.pool.restore()  # every device gets another chance each round
        futures = self.models.prefetch(
            [(sub, self.competitions[sub.competition_id]) for sub, adm in to_run if adm is None]  # type: ignore[index]
        )
        executor = ThreadPoolExecutor(max_workers=self.pool.size, thread_name_prefix="evaluate")
        jobs: dict[Future[tuple[Outcome, float]], Submission] = {}
        leaders: set[tuple[str, str, int]] = set()  # content being evaluated this round
        copies: list[tuple[Submission, Admission]] = []  # byte-identical to one being evaluated: after it
        try:
            in_turn = self._in_turn(to_run, futures)
            for sub, admission, downloaded in progress(in_turn, "evaluating", total=len(to_run), unit="model"):
                assert sub.competition_id is not None
                if self.on_progress is not None:
                    self.on_progress()
                self._collect(jobs, outcomes, stats, block=False)
                round_block, seed = rounds[sub.competition_id]
                if downloaded:
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
                key = (str(admission.content_hash), sub.competition_id, round_block)
                if key in leaders:
                    copies.append((sub, admission))
                    continue
                leaders.add(key)
                jobs[executor.submit(self._timed, sub, admission, round_block, seed)] = sub
            self._collect(jobs, outcomes, stats, block=True)
            for sub, admission in copies:  # their original is done: cached, or held and tried again
                assert sub.competition_id is not None
                round_block, seed = rounds[sub.competition_id]
                hit = self._from_cache(admission, sub.competition_id, round_block)
                if hit is not None:
                    outcomes[sub.uid] = hit
                else:
                    jobs[executor.submit(self._timed, sub, admission, round_block, seed)] = sub
            self._collect(jobs, outcomes, stats, block=True)
        finally:
            for future in futures.values():
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)
        credit_first_commit(outcomes, submissions)
        stats.evaluated = len(stats.seconds)
        stats.cached = sum(1 for o in outcomes.values() if o.status == EvalStatus.CACHED)
        return dict(sorted(outcomes.items())), stats


def credit_first_commit(outcomes: dict[int, Outcome], submissions: Sequence[Submission]) -> None:
    """Among byte-identical models, report the evaluation this round ran as the earliest commit's.

    Downloads finish in any order, so whichever copy arrived first was evaluated; swapping the
    outcomes (same loss) makes the report the same whatever the network did.
    """
    groups: dict[tuple[str, str | None], list[Submission]] = {}
    for sub in submissions:
        outcome = outcomes.get(sub.uid)
        if outcome is not None and outcome.content_hash and outcome.status in (EvalStatus.EVALUATED, EvalStatus.CACHED):
            groups.setdefault((outcome.content_hash, sub.competition_id), []).append(sub)
    for group in groups.values():
        ran = [sub.uid for sub in group if outcomes[sub.uid].status == EvalStatus.EVALUATED]
        first = min(group, key=lambda sub: (sub.commit_block or 0, sub.uid)).uid
        if len(ran) == 1 and ran[0] != first:
            outcomes[first], outcomes[ran[0]] = outcomes[ran[0]], outcomes[first]
