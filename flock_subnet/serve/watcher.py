"""Follow the competition's winner: re-check the chain every N blocks and swap to a new winner.

A check that finds another winner loads it fully (admission, download, weights, a running
engine) while the old model keeps answering, then swaps the slot's reference; requests already
running finish on the old model. A chain or hub outage, or a winner whose model will not load,
is logged and retried at the next poll; the served model stays up meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from flock_subnet.chain.base import Chain
from flock_subnet.errors import FlockError
from flock_subnet.serve.slot import ModelSlot, ServedModel
from flock_subnet.serve.winner import Candidate, Winner, WinnerFinder

_log = logger.bind(component="serve")
DEFAULT_RECHECK_BLOCKS = 100
DEFAULT_POLL_S = 12.0


@dataclass
class WatchStatus:
    """What `/health` reports about following the chain."""

    competition: str
    checked_block: int | None = None
    checked_at: float | None = None
    serving: Candidate | None = None
    last_error: str | None = None

    def body(self) -> dict[str, Any]:
        serving = self.serving
        return {
            "competition": self.competition,
            "checked_block": self.checked_block,
            "uid": serving.uid if serving else None,
            "hotkey": serving.hotkey if serving else None,
            "incentive": serving.incentive if serving else None,
            "last_error": self.last_error,
        }


class WinnerWatcher:
    """Keeps `slot` serving the winner `finder` sees on `chain`; `start()` runs it in a thread."""

    def __init__(
        self,
        chain: Chain,
        netuid: int,
        finder: WinnerFinder,
        slot: ModelSlot,
        load: Callable[[Winner], ServedModel],
        recheck_blocks: int = DEFAULT_RECHECK_BLOCKS,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self.chain = chain
        self.netuid = netuid
        self.finder = finder
        self.slot = slot
        self.load = load
        self.recheck_blocks = max(1, recheck_blocks)
        self.poll_s = poll_s
        self.status = WatchStatus(finder.competition.id)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Find the winner now and swap to it if it changed; True when a new model is being served."""
        winner = self.finder.find(self.chain, self.netuid)
        current = self.status.serving
        if winner is None:
            if current is None:
                self.slot.waiting_reason = (
                    f"no admissible model is committed for competition {self.finder.competition.id!r} yet"
                )
            return False
        if current is not None and winner.candidate.key == current.key:
            self.status.serving = winner.candidate  # keep the incentive current
            return False
        _log.info("winner of {} is {} (incentive {:.4f}); loading it", self.finder.competition.id,
                  winner.candidate.model_id, winner.candidate.incentive)
        try:
            served = self.load(winner)
        except Exception as exc:  # admitted but unusable: skip it until it changes, keep serving
            self.finder.refuse(winner.candidate, [f"the model does not load: {type(exc).__name__}: {exc}"])
            return False
        self.slot.swap(served)
        self.status.serving = winner.candidate
        return True

    def poll_once(self) -> bool:
        """One poll: check when `recheck_blocks` have passed since the last check (or there was none)."""
        block = self.chain.block()
        last = self.status.checked_block
        if last is not None and block - last < self.recheck_blocks and self.status.serving is not None:
            return False
        swapped = self.check()
        self.status.checked_block, self.status.checked_at, self.status.last_error = block, time.time(), None
        return swapped

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except FlockError as exc:
                self.status.last_error = str(exc)
                _log.warning("checking the chain for the winner failed, retrying in {:g} s: {}", self.poll_s, exc)
            except Exception as exc:  # never let the watcher die silently
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                _log.exception("the winner watcher hit an unexpected error; retrying")
            self._stop.wait(self.poll_s)

    def start(self) -> WinnerWatcher:
        self._thread = threading.Thread(target=self.run, name="winner-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
