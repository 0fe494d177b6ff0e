"""The vllm engine: the same `Engine` contract on vllm's paged-attention scheduler (GPU only).

vllm schedules and batches by itself; this adapter feeds it token-id prompts from a background
thread, turns its cumulative outputs into `TextDelta` events, applies stop strings with the same
`StopMatcher` as the transformers engine (so both cut text identically), and aborts requests
whose client went away. It needs the `vllm` package and a CUDA GPU; without them
`require_vllm` says what to do instead.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

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
from flock_subnet.serve.text import StopMatcher

_log = logger.bind(component="serve")


def require_vllm() -> None:
    """Raise `ServeError` unless vllm is installed and a CUDA GPU is visible."""
    if importlib.util.find_spec("vllm") is None:
        raise ServeError("--engine vllm needs the vllm package: `pip install vllm` on a machine with a CUDA GPU, "
                         "or serve with --engine transformers")
    import torch

    if not torch.cuda.is_available():
        raise ServeError("--engine vllm needs a CUDA GPU and none is visible here; serve with --engine transformers")


@dataclass
class _Tracked:
    stream: Stream
    stops: StopMatcher
    seen: int = 0  # characters of vllm's cumulative text already passed to `stops`
    tokens: int = 0
    done: bool = False


class VllmEngine:
    """vllm's `LLMEngine` behind the `Engine` contract."""

    name = "vllm"

    def __init__(self, folder: Path, tokenizer_folder: Path, limits: EngineLimits | None = None,
                 label: str = "model") -> None:
        require_vllm()
        from vllm import EngineArgs, LLMEngine

        self.limits = limits or EngineLimits()
        self.label = label
        self._engine: Any = LLMEngine.from_engine_args(EngineArgs(
            model=str(folder), tokenizer=str(tokenizer_folder), dtype="bfloat16", trust_remote_code=False,
            max_num_seqs=self.limits.max_batch, seed=0,
        ))
        self.context_length = int(self._engine.model_config.max_model_len)
        self._ids = itertools.count()
        self._cv = threading.Condition()
        self._waiting: deque[Stream] = deque()
        self._tracked: dict[str, _Tracked] = {}
        self._state = EngineState.RUNNING
        self._thread = threading.Thread(target=self._loop, name=f"vllm:{label}", daemon=True)
        self._thread.start()

    @property
    def state(self) -> EngineState:
        return self._state

    def submit(self, request: GenerationRequest) -> Stream:
        with self._cv:
            if self._state is not EngineState.RUNNING:
                raise EngineClosed(f"the {self.label} engine is {self._state.value} and takes no new requests")
            if len(self._tracked) + len(self._waiting) >= self.limits.max_pending:
                raise Overloaded(f"the server has {len(self._tracked) + len(self._waiting)} requests; retry shortly")
            stream = Stream(request)
            self._waiting.append(stream)
            self._cv.notify()
        return stream

    def pending(self) -> tuple[int, int]:
        with self._cv:
            return len(self._tracked), len(self._waiting)

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
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _params(self, request: GenerationRequest) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens, seed=request.seed,
            ignore_eos=request.ignore_eos, skip_special_tokens=True,
        )

    def _admit(self) -> bool:
        with self._cv:
            while not self._waiting and not self._tracked and self._state is EngineState.RUNNING:
                self._cv.wait()
            if self._state is EngineState.STOPPED or (
                self._state is EngineState.DRAINING and not self._waiting and not self._tracked
            ):
                return False
            new = list(self._waiting)
            self._waiting.clear()
        for stream in new:
            request_id = f"{self.label}-{next(self._ids)}"
            prompt = {"prompt_token_ids": list(stream.request.prompt_ids)}
            self._engine.add_request(request_id, prompt, self._params(stream.request))
            with self._cv:
                self._tracked[request_id] = _Tracked(stream, StopMatcher(stream.request.stop))
        return True

    def _deliver(self, output: Any) -> None:
        tracked = self._tracked.get(output.request_id)
        if tracked is None or tracked.done:
            return
        completion = output.outputs[0]
        text = completion.text[tracked.seen :]
        tracked.seen = len(completion.text)
        tracked.tokens = len(completion.token_ids)
        shown = tracked.stops.feed(text)
        if shown:
            tracked.stream.put(TextDelta(shown))
        if tracked.stops.stopped or output.finished:
            if not tracked.stops.stopped:
                tail = tracked.stops.flush()
                if tail:
                    tracked.stream.put(TextDelta(tail))
            reason = FinishReason.LENGTH if completion.finish_reason == "length" and not tracked.stops.stopped \
                else FinishReason.STOP
            tracked.stream.put(Finished(reason, len(tracked.stream.request.prompt_ids), tracked.tokens))
            tracked.done = True

    def _loop(self) -> None:
        try:
            while self._admit():
                try:
                    for output in self._engine.step():
                        self._deliver(output)
                except Exception as exc:  # a failing step fails its requests, never the server
                    _log.exception("vllm step failed on {}", self.label)
                    for tracked in self._tracked.values():
                        tracked.stream.put(Failed(f"generation failed: {type(exc).__name__}: {exc}"))
                        tracked.done = True
                finished = [rid for rid, t in self._tracked.items() if t.done or t.stream.cancelled]
                if finished:
                    self._engine.abort_request(finished)
                    with self._cv:
                        for rid in finished:
                            self._tracked.pop(rid, None)
        finally:
            with self._cv:
                leftover = [t.stream for t in self._tracked.values() if not t.done] + list(self._waiting)
                self._tracked.clear()
                self._waiting.clear()
                self._state = EngineState.STOPPED
            for stream in leftover:
                stream.put(Failed("the server stopped before this request finished; send it again"))
            self._engine = None
