"""The contract between the HTTP front and a generation engine: requests, streamed events, limits.

An engine takes a `GenerationRequest` and returns a `Stream`: the caller reads `TextDelta`
events and then exactly one `Finished` or `Failed`, and calls `cancel()` when its client goes
away. `Engine` is what the transformers engine and the vllm engine both provide.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from flock_subnet.errors import FlockError


class ServeError(FlockError):
    """The server cannot do what was asked (bad options, a model that will not load, a missing engine)."""


class Overloaded(ServeError):
    """The engine has as many requests as it accepts; retry shortly."""


class EngineClosed(ServeError):
    """The engine no longer takes requests (it is being replaced or shut down)."""


class EngineState(str, Enum):
    RUNNING = "running"  # takes requests
    DRAINING = "draining"  # finishes what it has, takes nothing new, then stops
    STOPPED = "stopped"


class FinishReason(str, Enum):
    STOP = "stop"  # end of sequence or a stop string
    LENGTH = "length"  # max_tokens or the model's context


@dataclass(frozen=True)
class EngineLimits:
    """How much one engine takes on: sequences decoded together, and requests queued behind them."""

    max_batch: int = 16
    max_waiting: int = 64
    max_prefill_tokens: int = 8192  # prompt tokens computed in one prefill (at least one prompt)

    @property
    def max_pending(self) -> int:
        return self.max_batch + self.max_waiting


@dataclass(frozen=True)
class GenerationRequest:
    prompt_ids: tuple[int, ...]
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    stream: bool = True  # False: the text comes as one `TextDelta` just before `Finished`


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finished:
    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    message: str


Event = TextDelta | Finished | Failed


@dataclass
class Stream:
    """What a caller holds for one request: events to read, and a way to give up on it."""

    request: GenerationRequest
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def put(self, event: Event) -> None:
        self.events.put(event)

    def next(self, timeout: float | None = None) -> Event:
        return self.events.get(timeout=timeout)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


class Engine(Protocol):
    """A model that generates for many requests at once."""

    name: str
    context_length: int

    def submit(self, request: GenerationRequest) -> Stream: ...

    def pending(self) -> tuple[int, int]:
        """(sequences being generated, requests waiting)."""
        ...

    def retire(self) -> None:
        """Take nothing new, finish what was accepted, then release the model."""
        ...

    def close(self) -> None:
        """Stop now: accepted requests fail with a message."""
        ...

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the engine to stop (after `retire` or `close`); True when it has."""
        ...
