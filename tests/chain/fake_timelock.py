"""A see-through stand-in for the SDK's drand timelock, so the fake node can reveal weight commits.

The real `commit_timelocked_mechanism_weights` payload can only be opened with a drand pulse,
which an offline test never has. `transparent_timelock()` swaps the SDK's encryption function
for one that writes the same fields as readable JSON behind a marker; the fake node decodes such
commits at their reveal epoch and leaves any other payload sealed, as an offline node would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bittensor.intents import weights as sdk_weights

MARKER = b"FAKE-TLE:"


class _SeeThroughCore:
    """The SDK's `bittensor_core` with `get_encrypted_commit_v2` made readable."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def get_encrypted_commit_v2(self, *, uids: list[int], weights: list[int], version_key: int,
                                current_block: int, **_schedule: Any) -> tuple[bytes, int]:
        payload = {"uids": [int(u) for u in uids], "weights": [int(w) for w in weights], "version_key": int(version_key)}
        return MARKER + json.dumps(payload).encode(), int(current_block) + 1000


@contextmanager
def transparent_timelock() -> Iterator[None]:
    """Within the block, weight commits made through the SDK carry their weights in the clear."""
    real = sdk_weights._core
    sdk_weights._core = _SeeThroughCore(real)
    try:
        yield
    finally:
        sdk_weights._core = real


def open_commit(commit: Any) -> dict[str, Any] | None:
    """The uids, u16 weights and version key of a see-through commit; None for a sealed one."""
    data = bytes.fromhex(commit[2:]) if isinstance(commit, str) and commit.startswith("0x") else commit
    if not isinstance(data, (bytes, bytearray)) or not bytes(data).startswith(MARKER):
        return None
    return json.loads(bytes(data)[len(MARKER):].decode())
