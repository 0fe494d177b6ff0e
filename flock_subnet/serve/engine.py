"""The transformers engine: continuous batching over one model, in one background thread.

Each loop iteration admits waiting requests (up to `max_batch` sequences, and a prompt-token
budget per prefill), computes their prompts once into their own KV cache and merges them into
the running batch, then decodes one token for every running sequence in a single forward pass.
Sequences leave the batch the step they finish (end of sequence, a stop string, `max_tokens`,
the model's context, or a client that went away), so a short request never waits for a long
one and a new request starts at the next step rather than after the current batch.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger

from flock_subnet.serve.batch import KvBatch
from flock_subnet.serve.generation import (
    EngineClosed,
    EngineLimits,
    EngineState,
    Failed,
    Finished,
    FinishReason,
    GenerationRequest,
    Overloaded,
    ServeError,
    Stream,
    TextDelta,
)
from flock_subnet.serve.loader import LoadedModel
from flock_subnet.serve.sampling import SamplerState, sample_next
from flock_subnet.serve.text import IncrementalDecoder, StopMatcher

_log = logger.bind(component="serve")


@dataclass
class _Sequence:
    """One request being generated: where it is, what it has said, how it samples."""

    stream: Stream
    sampler: SamplerState
    decoder: IncrementalDecoder
    stops: StopMatcher
    next_position: int  # position id at which `last_token` is fed
    last_token: int = -1
    generated: int = 0
    finish: FinishReason | None = None
    held: list[str] = field(default_factory=list)  # text of a request that is not streamed

    def emit(self, text: str) -> None:
        if not text:
            return
        if self.stream.request.stream:
            self.stream.put(TextDelta(text))
        else:
            self.held.append(text)

    @property
    def done(self) -> bool:
        return self.finish is not None or self.stream.cancelled


class TransformersEngine:
    """Batched generation with a KV cache per sequence; see the module docstring."""

    name = "transformers"

    def __init__(self, loaded: LoadedModel, limits: EngineLimits | None = None, label: str = "model") -> None:
        self.loaded: LoadedModel | None = loaded
        self.context_length = loaded.context_length
        self.limits = limits or EngineLimits()
        self.label = label
        self.steps = 0
        self.tokens_generated = 0
        self._model = loaded.model
        self._eos = loaded.eos_ids
        self._pad = loaded.pad_id
        self._tokenizer = loaded.decoder_tokenizer()
        self._cv = threading.Condition()
        self._waiting: deque[Stream] = deque()
        self._running: list[_Sequence] = []
        self._active = 0
        self._batch: KvBatch | None = None
        self._state = EngineState.RUNNING
        self._thread = threading.Thread(target=self._loop, name=f"engine:{label}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the caller's side

    @property
    def state(self) -> EngineState:
        return self._state

    def submit(self, request: GenerationRequest) -> Stream:
        if not request.prompt_ids:
            raise ServeError("the prompt is empty")
        if len(request.prompt_ids) >= self.context_length:
            raise ServeError(
                f"the prompt has {len(request.prompt_ids)} tokens; this model reads at most {self.context_length - 1} "
                "before it answers"
            )
        if request.max_tokens < 1:
            raise ServeError("max_tokens must be at least 1")
        with self._cv:
            if self._state is not EngineState.RUNNING:
                raise EngineClosed(f"the {self.label} engine is {self._state.value} and takes no new requests")
            if self._active + len(self._waiting) >= self.limits.max_pending:
                raise Overloaded(
                    f"the server is generating for {self._active} requests with {len(self._waiting)} waiting; retry shortly"
                )
            stream = Stream(request)
            self._waiting.append(stream)
            self._cv.notify()
        return stream

    def pending(self) -> tuple[int, int]:
        with self._cv:
            return self._active, len(self._waiting)

    def retire(self) -> None:
        with self._cv:
            if self._state is EngineState.RUNNING:
                self._state = EngineState.DRAINING
            self._cv.notify()

    def close(self, timeout: float = 30.0) -> None:
        with self._cv:
            self._state = EngineState.STOPPED
            self._cv.notify()
        self.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the engine thread to end (after `retire` or `close`); True when it has."""
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # ------------------------------------------------------------------ the engine thread

    def _take_work(self) -> list[Stream] | None:
        """Requests to admit now ([] to just keep decoding); None when the engine is to stop."""
        with self._cv:
            while not self._waiting and not self._running and self._state is EngineState.RUNNING:
                self._cv.wait()
            if self._state is EngineState.STOPPED:
                return None
            if self._state is EngineState.DRAINING and not self._waiting and not self._running:
                return None
            admitted: list[Stream] = []
            budget = self.limits.max_prefill_tokens
            while self._waiting and len(self._running) + len(admitted) < self.limits.max_batch:
                size = len(self._waiting[0].request.prompt_ids)
                if admitted and size > budget:
                    break
                stream = self._waiting.popleft()
                if not stream.cancelled:
                    admitted.append(stream)
                    budget -= size
            self._active = len(self._running) + len(admitted)
            return admitted

    def _loop(self) -> None:
        import torch

        try:
            while (admitted := self._take_work()) is not None:
                with torch.inference_mode():
                    if admitted:
                        self._guarded(lambda: self._prefill(admitted), admitted)
                    if self._running:
                        self._guarded(self._decode_step, [])
                with self._cv:
                    self._active = len(self._running)
        finally:
            self._shutdown()

    def _guarded(self, step: Callable[[], None], admitted: list[Stream]) -> None:
        """Run one step; if it fails, fail its requests (and the running ones), never the server."""
        try:
            step()
        except Exception as exc:
            _log.exception("generation step failed on {}", self.label)
            message = f"generation failed: {type(exc).__name__}: {exc}"
            failed = {id(seq.stream): seq.stream for seq in self._running if not seq.done}
            failed.update((id(stream), stream) for stream in admitted)
            for stream in failed.values():
                stream.put(Failed(message))
            self._running, self._batch = [], None

    def _prefill(self, streams: list[Stream]) -> None:
        prompts = [s.request.prompt_ids for s in streams]
        batch, logits = KvBatch.prefill(self._model, prompts, self._pad)
        sequences = [
            _Sequence(
                stream=s,
                sampler=SamplerState.create(s.request.temperature, s.request.top_p, s.request.seed),
                decoder=IncrementalDecoder(self._tokenizer),
                stops=StopMatcher(s.request.stop),
                next_position=len(s.request.prompt_ids),
            )
            for s in streams
        ]
        for seq, token in zip(sequences, sample_next(logits, [s.sampler for s in sequences])):
            self._accept(seq, token)
        if self._batch is None:
            self._batch = batch
        else:
            self._batch.merge(batch)
        self._running.extend(sequences)
        self._drop_finished()

    def _decode_step(self) -> None:
        assert self._batch is not None
        running = self._running
        logits = self._batch.decode([s.last_token for s in running], [s.next_position for s in running])
        for seq in running:
            seq.next_position += 1
        for seq, token in zip(running, sample_next(logits, [s.sampler for s in running])):
            if not seq.stream.cancelled:
                self._accept(seq, token)
        self.steps += 1
        self._drop_finished()

    def _accept(self, seq: _Sequence, token: int) -> None:
        """Take one sampled token: emit its text, and decide whether the sequence is done."""
        request = seq.stream.request
        seq.generated += 1
        seq.last_token = token
        self.tokens_generated += 1
        if token in self._eos and not request.ignore_eos:
            self._finish(seq, FinishReason.STOP)
            return
        seq.emit(seq.stops.feed(seq.decoder.push(token)))
        if seq.stops.stopped:
            self._finish(seq, FinishReason.STOP)
        elif seq.generated >= request.max_tokens or len(request.prompt_ids) + seq.generated >= self.context_length:
            self._finish(seq, FinishReason.LENGTH)

    def _finish(self, seq: _Sequence, reason: FinishReason) -> None:
        if not seq.stops.stopped:
            seq.emit(seq.stops.feed(seq.decoder.flush()) + seq.stops.flush())
        if seq.held:
            seq.stream.put(TextDelta("".join(seq.held)))
        seq.finish = reason
        seq.stream.put(Finished(reason, len(seq.stream.request.prompt_ids), seq.generated))

    def _drop_finished(self) -> None:
        keep = [i for i, seq in enumerate(self._running) if not seq.done]
        if len(keep) == len(self._running):
            return
        self._running = [self._running[i] for i in keep]
        if not keep:
            self._batch = None
        elif self._batch is not None:
            self._batch.keep(keep)

    def _shutdown(self) -> None:
        with self._cv:
            leftover = [seq.stream for seq in self._running] + list(self._waiting)
            self._waiting.clear()
            self._state = EngineState.STOPPED
            self._active = 0
        for stream in leftover:
            stream.put(Failed("the server stopped before this request finished; send it again"))
        self._running, self._batch = [], None
        device = self.loaded.device if self.loaded is not None else "cpu"
        self.loaded = None
        self._model = None
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        _log.info("engine for {} stopped after {} steps, {} tokens", self.label, self.steps, self.tokens_generated)


def check_limits(limits: EngineLimits) -> EngineLimits:
    """Refuse limits that cannot work, with what to pass instead."""
    if limits.max_batch < 1 or limits.max_waiting < 0 or limits.max_prefill_tokens < 1:
        raise ServeError("--max-batch and --max-prefill-tokens must be at least 1, --max-waiting at least 0")
    return limits
