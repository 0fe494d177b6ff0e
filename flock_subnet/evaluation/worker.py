"""The evaluation worker: `python -m flock_subnet.evaluation.worker --model-dir D --competition ID --seed N --result F`.

It runs in its own process (started by `sandbox.evaluate_in_sandbox`), caps its own address
space before importing anything heavy, loads the model from disk itself, builds the round's
hidden samples from the seed, evaluates, and writes one JSON object to the result file
(atomically): `{"status": "ok", "result": {...}}`, or `{"status": "model_fault" |
"evaluator_fault", "error": "..."}` (`WorkerStatus`). Nothing is pickled between the processes.

`--serve --reply-fd N` keeps one worker warm for many models (`warm.WarmWorker`): it reads one
JSON job per line on stdin (the same fields as the flags) and answers each with one JSON line
on file descriptor N (stdout stays free for whatever libraries print). Every job still loads
its model from disk; the worker exits at end of input or as soon as its parent is gone.

Operator competitions (`FLOCK_COMPETITIONS`, which `validator run --competitions-file` exports)
are loaded before the first job, so a competition the parent knows from a file is known here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from enum import Enum
from pathlib import Path

from flock_subnet.config import competition_files
from flock_subnet.tasks.catalog import load_operator_competitions


class WorkerStatus(str, Enum):
    """The `status` of a worker's JSON answer; the value is what goes over the wire."""

    READY = "ready"  # a serving worker has imported its stack and takes jobs
    OK = "ok"
    MODEL_FAULT = "model_fault"
    EVALUATOR_FAULT = "evaluator_fault"

    def __str__(self) -> str:
        return self.value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flock_subnet.evaluation.worker")
    parser.add_argument("--model-dir")
    parser.add_argument("--competition")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--result", help="file to write the JSON outcome to")
    parser.add_argument("--serve", action="store_true", help="evaluate one JSON job per stdin line")
    parser.add_argument("--reply-fd", type=int, default=None, help="with --serve: where to write the answers")
    parser.add_argument("--device", default=None)
    parser.add_argument("--memory-limit-mb", type=int, default=None)
    parser.add_argument("--samples-file", default=None, help="JSONL of samples to score instead of the hidden round")
    parser.add_argument("--tokenizer-dir", default=None, help="base model folder holding the tokenizer (hub bases)")
    parser.add_argument("--samples", type=int, default=None, help="number of hidden samples (default: the competition's)")
    return parser


def uses_gpu(device: str | None) -> bool:
    """Whether the evaluation will run on CUDA (an unset device means CUDA when a GPU is present)."""
    if device:
        return device.startswith("cuda")
    return os.path.exists("/dev/nvidiactl")


def limit_memory(megabytes: int | None, device: str | None = None) -> bool:
    """Cap this process's address space (Linux `RLIMIT_AS`); allocations past it raise MemoryError.

    Not applied on CUDA: the driver reserves far more virtual address space than the machine
    has memory, so any useful cap breaks it (GPU memory failures still end as evaluator faults).
    Returns whether the cap was applied.
    """
    if not megabytes:
        return False
    if uses_gpu(device):
        print("memory limit not applied: the evaluation runs on CUDA", file=sys.stderr)
        return False
    import resource

    limit = int(megabytes) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return True


def limit_threads() -> None:
    """Honour `FLOCK_TORCH_THREADS`: several workers sharing few cores must not oversubscribe them."""
    threads = os.environ.get("FLOCK_TORCH_THREADS")
    if threads and threads.isdigit() and int(threads) > 0:
        import torch

        torch.set_num_threads(int(threads))


def _write(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> dict:
    from flock_subnet.evaluation.loss import evaluate_loss
    from flock_subnet.evaluation.samples import load_chat_file, round_samples
    from flock_subnet.rules.competitions import get_competition

    competition = get_competition(args.competition)
    if args.samples_file:
        samples = load_chat_file(args.samples_file)
    else:
        samples = round_samples(competition, args.seed, n=args.samples)
    result = evaluate_loss(
        Path(args.model_dir), samples, competition, device=args.device, tokenizer_dir=args.tokenizer_dir
    )
    return {"status": WorkerStatus.OK.value, "result": result.to_dict()}


def _exit_with_parent() -> None:
    """End this worker when the process that started it is gone (a validator killed with -9)."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(4)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(args: argparse.Namespace) -> int:
    """Answer jobs from stdin until it closes; each answer is one JSON line on the reply fd."""
    import gc

    if args.reply_fd is None:
        print("--serve needs --reply-fd", file=sys.stderr)
        return 2
    _exit_with_parent()
    reply = os.fdopen(args.reply_fd, "w", buffering=1)
    limit_memory(args.memory_limit_mb, args.device)
    try:  # import the heavy stack once, before the first job
        from flock_subnet.evaluation import loss as _loss  # noqa: F401

        limit_threads()
        load_operator_competitions(competition_files())
    except BaseException as exc:
        reply.write(json.dumps(_classify(exc)) + "\n")
        return 3
    reply.write(json.dumps({"status": WorkerStatus.READY.value}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            job_args = argparse.Namespace(
                model_dir=job["model_dir"], competition=job["competition"], seed=int(job["seed"]),
                device=job.get("device") or args.device, samples_file=job.get("samples_file"),
                tokenizer_dir=job.get("tokenizer_dir"), samples=job.get("samples"),
            )
            payload = run(job_args)
        except BaseException as exc:
            payload = _classify(exc)
        reply.write(json.dumps(payload) + "\n")
        gc.collect()
        if uses_gpu(args.device):
            try:
                import torch

                torch.cuda.empty_cache()
            except Exception:  # the next job will find out
                pass
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.serve:
        return serve(args)
    missing = [flag for flag, value in (("--model-dir", args.model_dir), ("--competition", args.competition),
                                        ("--seed", args.seed), ("--result", args.result)) if value is None]
    if missing:
        print(f"missing {', '.join(missing)} (or use --serve)", file=sys.stderr)
        return 2
    result_path = Path(args.result)
    _exit_with_parent()
    try:
        limit_memory(args.memory_limit_mb, args.device)
        limit_threads()
        load_operator_competitions(competition_files())
        payload = run(args)
    except BaseException as exc:  # every failure becomes a classified outcome
        payload = _classify(exc)
    try:
        _write(result_path, payload)
    except OSError as exc:
        print(f"cannot write the result file {result_path}: {exc}", file=sys.stderr)
        return 3
    return 0 if payload["status"] == WorkerStatus.OK else 1


def _classify(exc: BaseException) -> dict:
    status = WorkerStatus.EVALUATOR_FAULT
    try:
        from flock_subnet.evaluation.errors import ModelFault

        if isinstance(exc, ModelFault):
            status = WorkerStatus.MODEL_FAULT
    except BaseException:  # even importing failed (e.g. no memory): the evaluator's fault
        pass
    return {"status": status.value, "error": f"{type(exc).__name__}: {exc}"[:4000]}


if __name__ == "__main__":
    raise SystemExit(main())
