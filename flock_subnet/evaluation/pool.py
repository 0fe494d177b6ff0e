"""`WorkerPool`: one warm sandboxed evaluation worker per device, shared by the threads that evaluate.

A validator on a box with several GPUs evaluates several models at once: every device gets its
own `WarmWorker`, pinned to that GPU with `CUDA_VISIBLE_DEVICES` (inside the worker the GPU is
`cuda:0`), and a job takes whichever free device has served the fewest jobs. A device that fails
for the validator's reasons (its worker crashes, its CUDA context breaks, the base model's
control run fails on it) is taken out of the pool with an error in the log (`remove`); the job
that found out is retried on another device, and when no device is left `acquire` answers None.
`restore` puts every device back, with a fresh worker (each round starts with the full pool).

Which devices (`plan_devices`):

| configured | workers |
|---|---|
| nothing, GPUs visible | one per visible GPU |
| nothing, no GPU | one, on the device the worker picks (the single-worker default) |
| `workers=N` | N, spread over the visible GPUs in turn, or N CPU workers |
| `devices=[cuda:0, cuda:1, cpu, ...]` | one per entry (with `workers=N`, N spread over the entries) |

CPU workers share the machine's cores: each gets `FLOCK_TORCH_THREADS` = cores / CPU workers
unless the environment already sets it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from loguru import logger

from flock_subnet.evaluation.warm import WarmWorker

THREADS_ENV = "FLOCK_TORCH_THREADS"


def visible_gpus(environ: dict[str, str] | None = None, dev: str = "/dev") -> list[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` entries (ids or UUIDs).

    Read from `CUDA_VISIBLE_DEVICES` when set, else from the `/dev/nvidiaN` device files: no CUDA
    context is created in the validator's own process.
    """
    env = os.environ if environ is None else environ
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        entries = [part.strip() for part in listed.split(",")]
        visible: list[str] = []
        for entry in entries:
            if not entry or entry.startswith("-"):
                break  # CUDA stops at the first invalid entry
            visible.append(entry)
        return visible
    try:
        names = os.listdir(dev)
    except OSError:
        return []
    return sorted((m.group(1) for name in names if (m := re.fullmatch(r"nvidia(\d+)", name))), key=int)


@dataclass(frozen=True)
class DeviceSpec:
    """One worker's device: its name in logs, the `--device` it is given, what it adds to its environment."""

    name: str
    device: str | None
    env: dict[str, str] = field(default_factory=dict)


def _cuda_index(entry: str) -> int | None:
    match = re.fullmatch(r"cuda(?::(\d+))?", entry.strip())
    if match is None:
        return None
    return int(match.group(1) or 0)


def plan_devices(
    devices: Sequence[str] | None = None,
    workers: int | None = None,
    gpus: Sequence[str] | None = None,
    cpu_count: int | None = None,
    environ: dict[str, str] | None = None,
) -> list[DeviceSpec]:
    """The pool's workers for the configured `devices` and/or number of `workers` (see the module's table)."""
    env = os.environ if environ is None else environ
    gpus = visible_gpus(env) if gpus is None else list(gpus)
    if workers is not None and workers < 1:
        raise ValueError(f"--eval-workers must be at least 1, not {workers}")
    entries: list[str | None]
    if devices:
        entries = [d.strip() for d in devices if d.strip()]
        if workers:
            entries = [entries[i % len(entries)] for i in range(workers)]
    elif workers:
        entries = [f"cuda:{i % len(gpus)}" for i in range(workers)] if gpus else ["cpu"] * workers
    else:
        entries = [f"cuda:{i}" for i in range(len(gpus))] if gpus else [None]
    on_cpu = sum(1 for e in entries if e is not None and _cuda_index(e) is None)
    threads = {} if THREADS_ENV in env or on_cpu < 2 else {THREADS_ENV: str(max(1, (cpu_count or os.cpu_count() or 1) // on_cpu))}
    specs: list[DeviceSpec] = []
    seen: dict[str, int] = {}
    for entry in entries:
        if entry is None:
            specs.append(DeviceSpec("default", None))
            continue
        index = _cuda_index(entry)
        if index is None:
            base = entry.strip()
            number = seen.get(base, 0)
            seen[base] = number + 1
            hide = {"CUDA_VISIBLE_DEVICES": ""} if base == "cpu" else {}
            specs.append(DeviceSpec(f"{base}#{number}", base, {**hide, **threads}))
            continue
        if index >= len(gpus):
            logger.warning(
                "evaluation device cuda:{} is not among the {} visible GPU(s); its worker will fail and leave the pool",
                index, len(gpus),
            )
        physical = gpus[index] if index < len(gpus) else str(index)
        number = seen.get(f"cuda:{index}", 0)
        seen[f"cuda:{index}"] = number + 1
        name = f"cuda:{index}" if number == 0 else f"cuda:{index}#{number}"
        specs.append(DeviceSpec(name, "cuda:0", {"CUDA_VISIBLE_DEVICES": physical}))
    return specs


@dataclass
class Slot:
    """One device of the pool and its warm worker; what it served and why it left, if it did."""

    spec: DeviceSpec
    worker: WarmWorker
    jobs: int = 0
    pids: set[int] = field(default_factory=set)  # every worker process that served a job here
    removed: str | None = None
    busy: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    def note_job(self) -> None:
        self.jobs += 1
        if self.worker.pid is not None:
            self.pids.add(self.worker.pid)


class WorkerPool:
    """Warm workers, one per `DeviceSpec`; `acquire` a free one, `release` it, `remove` a failing one."""

    def __init__(self, specs: Sequence[DeviceSpec], memory_limit_mb: int | None = None) -> None:
        if not specs:
            raise ValueError("an evaluation pool needs at least one device")
        self.memory_limit_mb = memory_limit_mb
        self.slots = [Slot(spec, self._worker(spec)) for spec in specs]
        self._cond = threading.Condition()

    def _worker(self, spec: DeviceSpec) -> WarmWorker:
        return WarmWorker(memory_limit_mb=self.memory_limit_mb, device=spec.device, env=spec.env)

    @property
    def size(self) -> int:
        return len(self.slots)

    @property
    def live(self) -> list[Slot]:
        with self._cond:
            return [slot for slot in self.slots if slot.removed is None]

    def acquire(self) -> Slot | None:
        """A free device (the one that served fewest jobs), waiting for one; None when none is left."""
        with self._cond:
            while True:
                live = [slot for slot in self.slots if slot.removed is None]
                if not live:
                    return None
                free = [slot for slot in live if not slot.busy]
                if free:
                    slot = min(free, key=lambda s: (s.jobs, self.slots.index(s)))
                    slot.busy = True
                    return slot
                self._cond.wait()

    def release(self, slot: Slot) -> None:
        with self._cond:
            slot.busy = False
            self._cond.notify_all()

    def remove(self, slot: Slot, reason: str) -> None:
        """Take `slot`'s device out of the pool until `restore` (its worker is stopped)."""
        with self._cond:
            if slot.removed is None:
                slot.removed = reason
                left = sum(1 for s in self.slots if s.removed is None)
                logger.error(
                    "evaluation device {} taken out of the pool ({} left): {}; check the device "
                    "(nvidia-smi, the worker's log) - it comes back at the next round", slot.name, left, reason,
                )
            self._cond.notify_all()
        slot.worker.close()

    def restore(self) -> None:
        """Every removed device back in the pool, with a fresh worker."""
        with self._cond:
            for slot in self.slots:
                if slot.removed is not None:
                    logger.info("evaluation device {} back in the pool", slot.name)
                    slot.worker.close()
                    slot.worker = self._worker(slot.spec)
                    slot.removed = None
            self._cond.notify_all()

    def close(self) -> None:
        for slot in self.slots:
            slot.worker.close()
