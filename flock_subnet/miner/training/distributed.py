"""Several training processes as one run: torch.distributed under `torchrun` or `accelerate launch`.

The launcher starts one process per device and tells each its place in the environment
(`RANK`, `WORLD_SIZE`, `LOCAL_RANK`); without a launcher there is one process and nothing here
does anything. With several, the process group is started once per process (NCCL on CUDA, gloo
on CPU) and each rank trains on `cuda:LOCAL_RANK` (or the CPU).

Every rank builds the same length-bucketed plan; each micro-batch is dealt out sample by sample
(`share_of`: rank r takes samples r, r + N, ...), so the global batch is the one the user set,
whatever N is, and the ranks' shares are disjoint and deterministic. The decisions that end a
run (a stop request, the time budget) are agreed by all ranks before every step (`agree`), so
every rank stops after the same step. Rank 0 alone writes checkpoints, exports, evaluates,
submits and prints; the others wait for it at a barrier where that matters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

from flock_subnet.miner.training.config import TrainingError

# How long a rank waits for the others at a collective (a daemon's followers wait for rank 0's
# self-evaluation and submission between rounds). Env FLOCK_DIST_TIMEOUT_S.
DEFAULT_TIMEOUT_S = 7200


class Parallel(str, Enum):
    """How several processes share the model: whole copies (DDP) or fully sharded (FSDP)."""

    DDP = "ddp"
    FSDP = "fsdp"


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: rank `rank` of `world_size`, device `local_rank` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0: the one that writes, exports, submits and prints."""
        return self.rank == 0


def ranks_from_env(environ: Mapping[str, str] | None = None) -> Ranks:
    """The ranks a launcher (torchrun, accelerate launch) set in the environment; one process without one."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise TrainingError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers ({exc}); launch with torchrun") from exc
    if world < 1 or not 0 <= rank < world or local < 0:
        raise TrainingError(
            f"inconsistent launcher environment: RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local}; launch with torchrun"
        )
    return Ranks(rank=rank, world_size=world, local_rank=local)


def share_of(batch: Sequence[int], ranks: Ranks) -> tuple[int, ...]:
    """This rank's samples of a micro-batch: every `world_size`-th one from position `rank`."""
    return tuple(batch[ranks.rank :: ranks.world_size])


def rank_device(requested: str | None, ranks: Ranks, cuda_available: bool) -> str:
    """The device of this rank: `requested`, else cuda when available, else the CPU.

    With several ranks a CUDA device is always the rank's own `cuda:LOCAL_RANK`.
    """
    if not ranks.enabled:
        return requested or ("cuda" if cuda_available else "cpu")
    if requested is not None and not requested.startswith("cuda"):
        return requested
    if not cuda_available:
        if requested is not None:
            raise TrainingError(f"--device {requested} was asked for but CUDA is not available; use --device cpu")
        return "cpu"
    return f"cuda:{ranks.local_rank}"


def start(ranks: Ranks, device: str) -> None:
    """Join the process group (once per process): NCCL for CUDA devices, gloo for the CPU."""
    if not ranks.enabled:
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
    timeout = timedelta(seconds=float(os.environ.get("FLOCK_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S)))
    dist.init_process_group(backend=backend, rank=ranks.rank, world_size=ranks.world_size, timeout=timeout)


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    """Wait until every rank gets here."""
    if ranks.enabled:
        import torch.distributed as dist

        dist.barrier()


def sum_across(tensor: Any, ranks: Ranks) -> Any:
    """`tensor` summed over the ranks, in place (the device keeps working: nothing is read back)."""
    if ranks.enabled:
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def agree(stop_requested: bool, elapsed_s: float, ranks: Ranks, device: str) -> tuple[bool, float]:
    """What every rank decides on: stop if any rank was asked to; time spent is the slowest rank's."""
    if not ranks.enabled:
        return stop_requested, elapsed_s
    import torch
    import torch.distributed as dist

    flags = torch.tensor([1.0 if stop_requested else 0.0, elapsed_s], dtype=torch.float64, device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    stop, elapsed = flags.tolist()
    return stop > 0.0, elapsed


def broadcast(value: Any, ranks: Ranks) -> Any:
    """Rank 0's `value` on every rank (a picklable object)."""
    if not ranks.enabled:
        return value
    import torch.distributed as dist

    box = [value if ranks.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
