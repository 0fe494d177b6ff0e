"""From generated tokens to the text a client sees: incremental decoding and stop strings.

`IncrementalDecoder` decodes one token at a time without re-decoding the whole answer (a
window of recent tokens is decoded, and text is released only once it no longer ends in a
half-finished UTF-8 character). `StopMatcher` finds stop strings across token boundaries and
holds back any tail that could still become one, so a streamed answer never shows text that a
stop string later cuts off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_INCOMPLETE = "\ufffd"


class IncrementalDecoder:
    """Token ids in, new text out; the text of all pushes joined equals decoding all ids at once."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # start of the window decoded for context
        self._read = 0  # ids before this are already released as text

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def push(self, token_id: int) -> str:
        self._ids.append(int(token_id))
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith(_INCOMPLETE):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (a trailing incomplete character decodes as U+FFFD)."""
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :] if len(after) > len(before) else ""


@dataclass
class StopMatcher:
    """Feed text pieces; get back what is safe to show and whether a stop string was reached."""

    stops: tuple[str, ...] = ()
    text: str = ""
    shown: int = 0
    stopped: bool = False

    def feed(self, piece: str) -> str:
        if self.stopped or not piece:
            return ""
        if not self.stops:
            self.text += piece
            self.shown = len(self.text)
            return piece
        start = max(0, len(self.text) - max(len(s) for s in self.stops) + 1)
        self.text += piece
        hits = [i for i in (self.text.find(stop, start) for stop in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            self.text = self.text[: min(hits)]
            return self._release(len(self.text))
        return self._release(len(self.text) - self._held_back())

    def _held_back(self) -> int:
        """Length of the longest tail of the text that is the start of a stop string."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.text)), longest, -1):
                if self.text.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def _release(self, end: int) -> str:
        end = max(end, self.shown)
        out = self.text[self.shown : end]
        self.shown = end
        return out

    def flush(self) -> str:
        """At the end of generation: the held-back tail (it never became a stop string)."""
        return self._release(len(self.text))
