"""Getting miners' models onto disk: admission (list, refuse, download, verify), cached in state.

Admissions are keyed by (hotkey, revision) and remembered together with the commitment text,
so a model is downloaded and verified once, not every round. Downloads run in a small thread
pool (`prefetch`) while the main thread evaluates the previous model. Models live under
`<root>/<hotkey>/<revision>`; `cleanup` deletes every folder no commitment refers to any more.
`base_dir` is the competition's base checkpoint (built or downloaded once), which the evaluator
needs for the base tokenizer and for its control runs.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet.errors import Fault
from flock_subnet.evaluation.admission import admit_reference
from flock_subnet.hub.base import ModelHub
from flock_subnet.models.tiny import base_model_dir
from flock_subnet.rules.competitions import Competition
from flock_subnet.telemetry import progress_bar
from flock_subnet.validator.faults import Backoff, is_validator_fault, retry
from flock_subnet.validator.plan import Submission
from flock_subnet.validator.state import AdmissionRecord, ValidatorState


@dataclass(frozen=True)
class Admission:
    """The outcome of admitting one submission.

    `fault` is `Fault.MINER` (refused: scores zero), `Fault.VALIDATOR` (the hub kept failing:
    hold the miner's score) or None (admitted; `model_dir` holds the verified files, unless `cached`
    and the files were already cleaned up).
    """

    ok: bool
    reasons: list[str] = field(default_factory=list)
    content_hash: str | None = None
    model_dir: Path | None = None
    cached: bool = False
    fault: Fault | None = None

    @property
    def has_files(self) -> bool:
        return self.model_dir is not None and self.model_dir.is_dir()


class _Bar:
    """A thread-safe download progress bar on stderr (hidden when stderr is not a terminal)."""

    def __init__(self, total: int) -> None:
        self._bar = progress_bar(total, "downloads", unit="model")

    def update(self) -> None:
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


class ModelStore:
    """Admits submissions into `root`, remembering outcomes in the validator state."""

    def __init__(
        self,
        hub: ModelHub,
        state: ValidatorState,
        root: str | Path,
        backoff: Backoff = Backoff(),
        reference_files: Callable[[Competition], Mapping[str, bytes]] | None = None,
        workers: int = 2,
        sleep: Callable[[float], None] | None = None,
        base_cache_dir: str | Path | None = None,
    ) -> None:
        self.hub = hub
        self.state = state
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.backoff = backoff
        self._reference_files = reference_files
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="download")
        self._sleep = sleep
        self.downloads = 0  # admissions that went to the hub in this process
        # the validator's default cache of base models sits next to the models folder
        self.base_cache_dir = Path(base_cache_dir) if base_cache_dir is not None else self.root.parent / "base"
        self._base_lock = threading.Lock()

    def base_dir(self, competition: Competition) -> Path:
        """The competition's base checkpoint folder (built or downloaded once, then reused)."""
        with self._base_lock:
            return Path(base_model_dir(competition, self.base_cache_dir, hub=self.hub))

    def model_dir(self, submission: Submission) -> Path:
        assert submission.reference is not None
        return self.root / submission.hotkey / submission.reference.revision

    def cached(self, submission: Submission) -> Admission | None:
        """The remembered admission of this exact commitment, if any."""
        assert submission.reference is not None and submission.commitment is not None
        record = self.state.get_admission(submission.hotkey, submission.reference.revision, submission.commitment)
        if record is None:
            return None
        return Admission(
            ok=record.ok,
            reasons=list(record.reasons),
            content_hash=record.content_hash,
            model_dir=Path(record.model_dir) if record.model_dir else None,
            cached=True,
            fault=None if record.ok else Fault.MINER,
        )

    def admit(self, submission: Submission, competition: Competition) -> Admission:
        """Download and verify now (retrying hub faults); the outcome is stored unless the hub failed."""
        assert submission.reference is not None and submission.commitment is not None
        dest = self.model_dir(submission)
        reference_files = self._reference_files(competition) if self._reference_files else None
        kwargs: dict[str, Any] = {} if self._sleep is None else {"sleep": self._sleep}
        what = f"admission of uid {submission.uid} ({submission.reference.short})"
        try:
            report = retry(
                lambda: admit_reference(
                    self.hub, submission.reference, submission.hotkey, dest, competition,
                    reference_files=reference_files,
                ),
                what,
                self.backoff,
                **kwargs,
            )
        except Exception as exc:  # the hub kept failing, or our own machinery broke: not the miner's fault
            if not is_validator_fault(exc):
                logger.exception("{} failed unexpectedly; holding the miner's score", what)
            shutil.rmtree(dest, ignore_errors=True)
            return Admission(False, [f"{type(exc).__name__}: {exc}"], fault=Fault.VALIDATOR)
        finally:
            self.downloads += 1
        if not report.ok:
            shutil.rmtree(dest, ignore_errors=True)
        record = AdmissionRecord(
            hotkey=submission.hotkey,
            revision=submission.reference.revision,
            reference=submission.commitment,
            ok=report.ok,
            reasons=list(report.reasons),
            content_hash=report.content_hash,
            parameters=report.parameters,
            model_dir=str(dest) if report.ok else None,
        )
        self.state.put_admission(record)
        if report.ok:
            logger.info("admitted uid {} {} ({} parameters)", submission.uid, submission.reference.short, report.parameters)
        else:
            logger.warning("refused uid {} {}: {}", submission.uid, submission.reference.short, "; ".join(report.reasons))
        return Admission(
            ok=report.ok,
            reasons=list(report.reasons),
            content_hash=report.content_hash,
            model_dir=dest if report.ok else None,
            fault=None if report.ok else Fault.MINER,
        )

    def prefetch(self, jobs: list[tuple[Submission, Competition]]) -> dict[int, Future[Admission]]:
        """Start admitting these submissions in the background; uid -> future, in submission order."""
        if not jobs:
            return {}
        bar = _Bar(len(jobs))
        futures: dict[int, Future[Admission]] = {}
        for submission, competition in jobs:
            future = self._pool.submit(self.admit, submission, competition)
            future.add_done_callback(lambda _f: bar.update())
            futures[submission.uid] = future
        remaining = [len(futures)]

        def _close(_f: Future) -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                bar.close()

        for future in futures.values():
            future.add_done_callback(_close)
        return futures

    def cleanup(self, keep: set[tuple[str, str]]) -> int:
        """Delete model folders whose (hotkey, revision) is not in `keep`; returns how many."""
        removed = 0
        for hotkey_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for revision_dir in sorted(p for p in hotkey_dir.iterdir() if p.is_dir()):
                if (hotkey_dir.name, revision_dir.name) not in keep:
                    shutil.rmtree(revision_dir, ignore_errors=True)
                    removed += 1
            if not any(hotkey_dir.iterdir()):
                hotkey_dir.rmdir()
        if removed:
            logger.info("removed {} model folder(s) no commitment refers to", removed)
        return removed

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
