"""Block clocks for the local chain: a manual one for tests, a wall-clock one for running nets.

The clock is chosen when the chain file is created and stored in it, so every process that opens
the file counts blocks the same way. A wall clock derives the block from the time elapsed since
genesis (`start_block + elapsed // block_time`); a manual clock keeps the block in the file and
moves it only through `LocalChain.advance(n)`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MANUAL = "manual"
WALL = "wall"


@dataclass(frozen=True)
class ManualClock:
    """Blocks advance only when asked to (`LocalChain.advance`)."""

    start_block: int = 0

    kind = MANUAL


@dataclass(frozen=True)
class WallClock:
    """One block every `block_time` seconds since the chain was created.

    `now` is the time source (seconds); it is not stored in the chain file, so a test can pass
    a fake one when it opens an existing wall-clock chain.
    """

    block_time: float = 12.0
    start_block: int = 0
    now: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    kind = WALL

    def __post_init__(self) -> None:
        if not (self.block_time > 0 and math.isfinite(self.block_time)):
            raise ValueError(f"block_time must be a positive number of seconds, got {self.block_time!r}")


Clock = ManualClock | WallClock


def wall_block(start_block: int, genesis_time: float, block_time: float, now: float) -> int:
    """The block a wall clock shows at time `now`."""
    elapsed = max(0.0, now - genesis_time)
    return start_block + int(elapsed // block_time)
