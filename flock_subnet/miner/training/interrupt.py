"""A stop request for a running training loop: SIGTERM or Ctrl-C sets a flag read between steps.

While the loop runs, the first signal only sets the flag: the step in progress finishes, the
state is saved and `train` raises `TrainingInterrupted`. A second signal raises
`KeyboardInterrupt` at once, without saving (the last saved state stays). Outside the loop the
process's own handlers apply again. Handlers can only be installed in the main thread; in any
other thread the flag is simply never set by a signal.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(flag: threading.Event) -> Iterator[threading.Event]:
    """Within the block, SIGINT and SIGTERM set `flag` (a repeated signal raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def request_stop(signum: int, frame: Any) -> None:
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back; use the default.
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
