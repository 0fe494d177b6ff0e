"""`evaluate_in_sandbox`: evaluate a model in a separate worker process with a timeout and a memory cap.

The worker (`python -m flock_subnet.evaluation.worker`) loads the weights from disk itself and
reports through a JSON result file. The parent never unpickles anything and never shares
memory or a GPU context with the model: a crash, a leak or a poisoned CUDA context dies with
the worker. Outcomes:

| what happened | raised |
|---|---|
| result `ok` | returns `EvalResult` |
| the model failed to load, crashed in its forward pass, or its loss is not finite | `ModelFault` |
| timeout (the worker's process group is killed) | `EvaluatorFault` |
| out of memory (MemoryError under the cap, or killed by a signal such as the OOM killer) | `EvaluatorFault` |
| the worker died without a result, or the environment is broken | `EvaluatorFault` |
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from flock_subnet.evaluation.errors import EvaluatorFault, ModelFault
from flock_subnet.evaluation.result import EvalResult
from flock_subnet.evaluation.worker import WorkerStatus

DEFAULT_TIMEOUT_S = 600.0
_STDERR_TAIL = 2000


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", TOKENIZERS_PARALLELISM="false")
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def evaluate_in_sandbox(
    model_dir: str | Path,
    competition_id: str,
    seed: int,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit_mb: int | None = None,
    device: str | None = None,
    samples: int | None = None,
    samples_file: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
) -> EvalResult:
    """The model's `EvalResult` on the hidden samples of `seed`, computed by a separate worker process.

    `samples` overrides the number of hidden samples; `samples_file` (JSONL/Parquet) replaces
    them; `tokenizer_dir` is the base model folder for competitions whose base is on a hub.
    """
    with tempfile.TemporaryDirectory(prefix="flock-eval-") as scratch:
        result_path = Path(scratch) / "result.json"
        stderr_path = Path(scratch) / "stderr.txt"
        command = [
            sys.executable, "-m", "flock_subnet.evaluation.worker",
            "--model-dir", str(Path(model_dir).resolve()),
            "--competition", competition_id,
            "--seed", str(int(seed)),
            "--result", str(result_path),
        ]
        if memory_limit_mb:
            command += ["--memory-limit-mb", str(int(memory_limit_mb))]
        if device:
            command += ["--device", device]
        if samples is not None:
            command += ["--samples", str(int(samples))]
        if tokenizer_dir is not None:
            command += ["--tokenizer-dir", str(Path(tokenizer_dir).resolve())]
        if samples_file is not None:
            command += ["--samples-file", str(Path(samples_file).resolve())]
        with open(stderr_path, "wb") as stderr:
            try:
                proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                    env=_worker_env(), cwd=scratch, start_new_session=True,
                )
            except OSError as exc:
                raise EvaluatorFault(f"cannot start the evaluation worker: {exc}") from exc
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise EvaluatorFault(
                    f"evaluation timed out after {timeout_s:g} s; raise the timeout or use a faster device"
                ) from None
            except BaseException:
                _kill_group(proc)
                raise
        return _outcome(proc.returncode, result_path, stderr_path)


def _tail(path: Path) -> str:
    try:
        return path.read_bytes()[-_STDERR_TAIL:].decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _outcome(returncode: int, result_path: Path, stderr_path: Path) -> EvalResult:
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        raise EvaluatorFault(
            f"the evaluation worker was killed by {name} (out of memory?); lower the load or raise the memory limit"
        )
    try:
        payload = json.loads(result_path.read_text())
    except (OSError, ValueError):
        raise EvaluatorFault(
            f"the evaluation worker exited with status {returncode} without a result: {_tail(stderr_path)}"
        ) from None
    return result_from_payload(payload)


def result_from_payload(payload: dict) -> EvalResult:
    """A worker's JSON answer as an `EvalResult`, or the fault it reports."""
    status = payload.get("status")
    if status == WorkerStatus.OK:
        return EvalResult.from_dict(payload["result"])
    message = payload.get("error") or "no message"
    if status == WorkerStatus.MODEL_FAULT:
        raise ModelFault(message)
    raise EvaluatorFault(f"the evaluation failed on the validator's side: {message}")
