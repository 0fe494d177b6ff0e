"""Publishing and fetching checkpoints: the `ModelHub` port, its Hugging Face adapter, and a local
Hub-compatible server.

`from flock_subnet.hub import HuggingFaceHub, start_hub_server` works; both are loaded on first
use so importing the port alone stays light.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "HuggingFaceHub": "flock_subnet.hub.huggingface",
    "start_hub_server": "flock_subnet.hub.server",
    "RunningHub": "flock_subnet.hub.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flock_subnet.hub' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
