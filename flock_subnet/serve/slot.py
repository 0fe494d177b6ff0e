"""The model being served, and swapping it for another without dropping a request.

`ModelSlot` holds one `ServedModel` (an id, its aliases, an engine and its chat encoding). A
swap loads nothing itself: the caller brings a new model that is already loaded and running,
the slot switches its reference under a lock, and the old engine is retired: it takes nothing
new and finishes every request it accepted before it lets go of its model. A request resolves
the served model and submits to it under the same lock, so it lands on exactly one of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from flock_subnet.serve.api import RATE_LIMIT, SERVER_ERROR, ApiError, ModelCard
from flock_subnet.serve.generation import (
    Engine,
    EngineClosed,
    GenerationRequest,
    Overloaded,
    Stream,
)

_log = logger.bind(component="serve")
RETRY_AFTER_S = 1


@dataclass
class ServedModel:
    """A model answering requests: its public id, other names it answers to, and its engine."""

    model_id: str
    engine: Engine
    encode_chat: Callable[[Sequence[Mapping[str, str]]], list[int]]
    aliases: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def context_length(self) -> int:
        return self.engine.context_length

    def answers_to(self, name: str | None) -> bool:
        return name is None or name == self.model_id or name in self.aliases

    def cards(self) -> list[ModelCard]:
        main = ModelCard(self.model_id, self.created, details=dict(self.details))
        return [main] + [ModelCard(alias, self.created, details={"root": self.model_id}) for alias in self.aliases]


class ModelSlot:
    """Exactly one served model at a time (or none yet), swappable while requests run."""

    def __init__(self, served: ServedModel | None = None, waiting_reason: str = "no model is loaded yet") -> None:
        self._lock = threading.Lock()
        self._served = served
        self._retired: list[ServedModel] = []
        self.waiting_reason = waiting_reason
        self.swaps = 0  # times one served model replaced another

    @property
    def served(self) -> ServedModel | None:
        return self._served

    def cards(self) -> list[ModelCard]:
        served = self._served
        return served.cards() if served is not None else []

    def resolve(self, name: str | None) -> ServedModel:
        """The served model if it answers to `name`; ApiError 503 (none yet) or 404 (another name)."""
        served = self._served
        if served is None:
            raise ApiError(503, f"{self.waiting_reason}; retry shortly", SERVER_ERROR, code="model_not_ready",
                           headers={"Retry-After": str(RETRY_AFTER_S)})
        if not served.answers_to(name):
            names = ", ".join([served.model_id, *served.aliases])
            raise ApiError(404, f"the model {name!r} does not exist; this server serves {names} (GET /v1/models)",
                           param="model", code="model_not_found")
        return served

    def submit(self, name: str | None, build: Callable[[ServedModel], GenerationRequest]) -> tuple[ServedModel, Stream]:
        """Build the request for the model answering to `name` and submit it to that model's engine."""
        for _ in range(3):
            served = self.resolve(name)
            request = build(served)  # tokenizing happens outside the lock
            with self._lock:
                if self._served is not served:
                    continue  # swapped meanwhile: build again for the new model
                try:
                    return served, served.engine.submit(request)
                except Overloaded as exc:
                    raise ApiError(429, str(exc), RATE_LIMIT, code="server_busy",
                                   headers={"Retry-After": str(RETRY_AFTER_S)}) from None
                except EngineClosed as exc:
                    raise ApiError(503, f"{exc}; retry shortly", SERVER_ERROR, code="shutting_down",
                                   headers={"Retry-After": str(RETRY_AFTER_S)}) from None
        raise ApiError(503, "the served model changed several times during this request; retry", SERVER_ERROR,
                       headers={"Retry-After": str(RETRY_AFTER_S)})

    def swap(self, new: ServedModel) -> ServedModel | None:
        """Serve `new` from now on; the previous model finishes its requests, then stops."""
        with self._lock:
            old, self._served = self._served, new
            if old is not None:
                self.swaps += 1
                old.engine.retire()
                self._retired.append(old)
        self._retired = [m for m in self._retired if _alive(m.engine)]
        _log.info("now serving {}{}", new.model_id, f" (was {old.model_id})" if old is not None else "")
        return old

    def drain(self, timeout: float) -> bool:
        """Take no new requests, and wait up to `timeout` seconds for every accepted one to finish."""
        with self._lock:
            engines = [m.engine for m in self._retired] + ([self._served.engine] if self._served else [])
            self.waiting_reason = "the server is shutting down"
        deadline = time.monotonic() + timeout
        for engine in engines:
            engine.retire()
        return all(engine.join(max(0.0, deadline - time.monotonic())) for engine in engines)

    def close(self) -> None:
        """Stop every engine, the current one and any still finishing after a swap."""
        with self._lock:
            engines = [m.engine for m in self._retired] + ([self._served.engine] if self._served else [])
            self._served = None
            self._retired = []
            self.waiting_reason = "the server is shutting down"
        for engine in engines:
            engine.close()


def _alive(engine: Engine) -> bool:
    state = getattr(engine, "state", None)
    return getattr(state, "value", "running") != "stopped"
