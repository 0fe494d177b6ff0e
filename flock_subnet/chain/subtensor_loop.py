"""A private event loop on a daemon thread that runs coroutines under hard deadlines.

The subtensor adapter is blocking, but the bittensor SDK is async. Running the SDK on a loop we
own lets every call carry a deadline: `asyncio.wait_for` cancels a coroutine that waits on a
half-dead websocket, and a second, outer deadline on the calling thread covers the worse case
of a loop that is itself stuck (a blocking call inside a coroutine). A stuck loop is abandoned
and a fresh one started, so the next call is never queued behind the hung one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Extra seconds the calling thread waits beyond the coroutine's own deadline before it decides
# the loop itself is wedged.
OUTER_GRACE_S = 2.0


class DeadlineExceeded(TimeoutError):
    """The coroutine did not finish within its deadline (it has been cancelled or abandoned)."""

    def __init__(self, seconds: float, loop_wedged: bool) -> None:
        what = "the event loop stopped responding" if loop_wedged else "no answer"
        super().__init__(f"{what} within {seconds:g}s")
        self.seconds = seconds
        self.loop_wedged = loop_wedged


class DeadlineLoop:
    """Runs coroutines on one background loop; `run(coro, timeout)` blocks until done or late."""

    def __init__(self, name: str = "flock-chain") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.generation = 0  # bumped each time a wedged loop is replaced

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=self._serve, args=(loop,), name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop; `DeadlineExceeded` if it takes longer than `timeout` seconds."""
        loop = self._ensure()
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), loop)
        try:
            return future.result(timeout + OUTER_GRACE_S)
        except (asyncio.TimeoutError, concurrent.futures.TimeoutError, TimeoutError):
            if not future.done():
                future.cancel()
                self._abandon(loop)
                raise DeadlineExceeded(timeout, loop_wedged=True) from None
            raise DeadlineExceeded(timeout, loop_wedged=False) from None

    def submit(self, coro: Coroutine[Any, Any, Any], timeout: float) -> None:
        """Fire and forget `coro` (bounded by `timeout`) on the loop, e.g. closing a dead socket."""
        loop = self._ensure()

        async def bounded() -> None:
            try:
                await asyncio.wait_for(coro, timeout)
            except BaseException:  # noqa: BLE001 - best effort by design
                pass

        asyncio.run_coroutine_threadsafe(bounded(), loop)

    def _abandon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Leave a wedged loop to its daemon thread and start afresh on the next call."""
        with self._lock:
            if self._loop is loop:
                self._loop, self._thread = None, None
                self.generation += 1
        loop.call_soon_threadsafe(loop.stop)

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop, self._thread = None, None
        if loop is None:
            return
        try:  # cancel what is still pending (a background close, a hung read) so nothing leaks
            asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result(OUTER_GRACE_S)
        except Exception:  # noqa: BLE001 - a wedged loop cannot cancel anything; it is abandoned below
            pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if not (thread and thread.is_alive()):
            loop.close()


async def _cancel_pending() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=1.0)
