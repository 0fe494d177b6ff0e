"""`WarmWorker`: one sandboxed evaluation worker kept alive across many models.

Starting a worker costs seconds (importing torch and transformers), far more than scoring a
small model, so a validator round reuses one worker for all its models. Isolation is the same
as `evaluate_in_sandbox`: a separate process that loads every model from disk itself, with the
memory cap of `--memory-limit-mb`, answering in JSON. A job that times out or kills the worker
raises `EvaluatorFault` and the next job gets a fresh worker; on a GPU the worker is also
replaced after a model fault, in case the fault left the CUDA context unusable. `env` adds to the
worker's environment (`pool.WorkerPool` pins each worker to one GPU with `CUDA_VISIBLE_DEVICES`).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from loguru import logger

from flock_subnet.evaluation.errors import EvaluatorFault, ModelFault
from flock_subnet.evaluation.result import EvalResult
from flock_subnet.evaluation.sandbox import DEFAULT_TIMEOUT_S, _kill_group, _worker_env, result_from_payload
from flock_subnet.evaluation.worker import WorkerStatus, uses_gpu

START_TIMEOUT_S = 300.0


class WarmWorker:
    """Evaluate models one after another in a long-lived worker process (thread-safe, serialised)."""

    def __init__(
        self, memory_limit_mb: int | None = None, device: str | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.memory_limit_mb = memory_limit_mb
        self.device = device
        self.env = dict(env or {})
        self._proc: subprocess.Popen | None = None
        self._reply: int | None = None
        self._buffer = b""
        self._stderr = None
        self._lock = threading.Lock()
        self.starts = 0

    # -- process management -------------------------------------------------------------------
    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        command = [sys.executable, "-m", "flock_subnet.evaluation.worker", "--serve", "--reply-fd", str(write_fd)]
        if self.memory_limit_mb:
            command += ["--memory-limit-mb", str(int(self.memory_limit_mb))]
        if self.device:
            command += ["--device", self.device]
        self._stderr = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                env={**_worker_env(), **self.env}, cwd=tempfile.gettempdir(), start_new_session=True, pass_fds=(write_fd,),
            )
        except OSError as exc:
            os.close(read_fd)
            raise EvaluatorFault(f"cannot start the evaluation worker: {exc}") from exc
        finally:
            os.close(write_fd)
        self._reply, self._buffer = read_fd, b""
        self.starts += 1
        ready = self._read_line(START_TIMEOUT_S, "starting the evaluation worker")
        if ready.get("status") != WorkerStatus.READY:
            self._stop()
            result_from_payload(ready)  # raises the fault the worker reported
            raise EvaluatorFault(f"the evaluation worker did not start: {ready}")

    def _stop(self) -> None:
        if self._proc is not None:
            try:
                if self._proc.stdin:
                    self._proc.stdin.close()
            except OSError:
                pass
            if self._proc.poll() is None:
                _kill_group(self._proc)
            self._proc = None
        if self._reply is not None:
            os.close(self._reply)
            self._reply = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 2000))
            return self._stderr.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def _read_line(self, timeout_s: float, what: str) -> dict:
        assert self._reply is not None
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self._stop()
                raise EvaluatorFault(f"{what} timed out after {timeout_s:g} s; raise the timeout or use a faster device")
            ready, _, _ = select.select([self._reply], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(self._reply, 65536)
            if not chunk:  # the worker died
                tail = self._stderr_tail()
                code = self._proc.wait() if self._proc is not None else None
                self._stop()
                how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with status {code}"
                raise EvaluatorFault(f"the evaluation worker {how} during {what} (out of memory?): {tail[-500:]}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    # -- the API ------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The running worker process's id (None before the first job and after a failure)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def evaluate(
        self,
        model_dir: str | Path,
        competition_id: str,
        seed: int,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        samples: int | None = None,
        samples_file: str | Path | None = None,
        tokenizer_dir: str | Path | None = None,
    ) -> EvalResult:
        """Like `evaluate_in_sandbox`, without paying the worker's start-up for every model."""
        job = {
            "model_dir": str(Path(model_dir).resolve()),
            "competition": competition_id,
            "seed": int(seed),
            "samples": samples,
            "samples_file": str(Path(samples_file).resolve()) if samples_file else None,
            "tokenizer_dir": str(Path(tokenizer_dir).resolve()) if tokenizer_dir else None,
        }
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._stop()
                self._start()
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write((json.dumps(job) + "\n").encode())
                self._proc.stdin.flush()
            except OSError as exc:
                self._stop()
                raise EvaluatorFault(f"the evaluation worker stopped taking jobs: {exc}") from exc
            payload = self._read_line(timeout_s, f"the evaluation of {Path(model_dir).name}")
            try:
                return result_from_payload(payload)
            except ModelFault:
                if uses_gpu(self.device):
                    logger.debug("replacing the evaluation worker after a model fault on the GPU")
                    self._stop()
                raise

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> "WarmWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
