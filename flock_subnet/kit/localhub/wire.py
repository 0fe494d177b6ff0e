"""HTTP plumbing of the local hub: errors as HTTP answers, a parsed request with bounded body
readers, and responses.

Bodies are read lazily and never past a limit: `json(limit)` and `lines(limit)` for API calls,
`chunks(limit)` for raw object uploads (both `Content-Length` and chunked transfer encoding).
Parsing is strict, so a server exposed on a LAN is not confused by a hostile client: header
values without control characters, one `Content-Length` of plain decimal digits, never together
with `Transfer-Encoding`, which may only be `chunked`; chunk sizes of plain hex digits, each
chunk followed by its line end; a JSON body that is not an object is a 400.
A response body is either bytes or a slice of a stored file, streamed in 1 MiB pieces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote

from flock_subnet.errors import FlockError

CHUNK = 1 << 20
MAX_JSON_BYTES = 8 * 1024 * 1024
_DECIMAL = re.compile(rb"[0-9]{1,19}")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,15})(;[^\r\n]*)?\r?\n")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class ApiError(FlockError):
    """A request the hub refuses: HTTP `status`, optional `X-Error-Code` `code`, and a message saying why."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}  # more JSON fields of the error body
        self.headers = headers or {}  # more response headers


@dataclass
class Request:
    """One HTTP request: method, percent-decoded path segments, query, headers and a body stream."""

    method: str
    raw_path: str
    headers: Message
    rfile: BinaryIO
    segments: list[str] = field(default_factory=list)
    query: dict[str, list[str]] = field(default_factory=dict)
    user: str | None = None
    body_done: bool = False

    def __post_init__(self) -> None:
        path, _, query = self.raw_path.partition("?")
        # Split before decoding: an encoded '/' (%2F) stays inside its segment (revisions like refs/heads/main).
        self.segments = [unquote(s) for s in path.split("/")[1:]]
        if self.segments and self.segments[-1] == "":
            self.segments.pop()
        self.query = parse_qs(query, keep_blank_values=True)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        return (self.arg(name, "") or "").lower() in {"1", "true", "yes"}

    def validate(self) -> None:
        """`ApiError(400)` for headers a strict HTTP/1.1 server refuses (see the module docstring)."""
        for name, value in self.headers.items():
            if _CONTROL.search(str(name)) or _CONTROL.search(str(value)):
                raise ApiError(400, f"header {str(name)[:40]!r} holds a control character")
        lengths = self.headers.get_all("Content-Length") or []
        if len(set(lengths)) > 1:
            raise ApiError(400, "conflicting Content-Length headers")
        encoding = self.headers.get_all("Transfer-Encoding") or []
        if encoding and lengths:
            raise ApiError(400, "a request may not carry both Content-Length and Transfer-Encoding")
        if encoding and [e.strip().lower() for e in encoding] != ["chunked"]:
            raise ApiError(400, f"unsupported Transfer-Encoding {', '.join(encoding)[:40]!r}; only chunked is accepted")
        self._length()

    @property
    def has_body(self) -> bool:
        try:
            return self._length() not in (None, 0) or self._chunked()
        except ApiError:  # an unreadable length: treat the connection as holding an unread body
            return True

    def _chunked(self) -> bool:
        return (self.headers.get("Transfer-Encoding") or "").strip().lower() == "chunked"

    def _length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        raw = str(value).strip(" \t").encode("latin-1", "replace")
        if not _DECIMAL.fullmatch(raw):
            raise ApiError(400, f"invalid Content-Length {str(value)[:40]!r}: decimal digits only")
        return int(raw)

    def chunks(self, limit: int) -> Iterator[bytes]:
        """The body in pieces; `ApiError(413)` as soon as it exceeds `limit` bytes."""
        if self.body_done:
            return
        if self._chunked():
            yield from self._chunked_body(limit)
        else:
            remaining = self._length() or 0
            if remaining > limit:
                raise ApiError(413, f"request body of {remaining} bytes is over the {limit}-byte limit")
            yield from self._exactly(remaining)
        self.body_done = True

    def _exactly(self, remaining: int) -> Iterator[bytes]:
        """The next `remaining` bytes of the body, in pieces; a body that ends early is a 400."""
        while remaining:
            piece = self.rfile.read(min(CHUNK, remaining))
            if not piece:
                raise ApiError(400, "request body ended early")
            remaining -= len(piece)
            yield piece

    def _chunked_body(self, limit: int) -> Iterator[bytes]:
        total = 0
        while True:
            match = _CHUNK_LINE.fullmatch(self.rfile.readline(1024))
            if match is None:
                raise ApiError(400, "malformed chunked body: a chunk size must be hex digits on its own line")
            size = int(match.group(1), 16)
            if size == 0:
                for _ in range(64):  # trailers, up to the empty line that ends the body
                    if self.rfile.readline(1024) in (b"\r\n", b"\n", b""):
                        return
                raise ApiError(400, "malformed chunked body: too many trailer lines")
            total += size
            if total > limit:
                raise ApiError(413, f"request body is over the {limit}-byte limit")
            yield from self._exactly(size)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise ApiError(400, "malformed chunked body: a chunk is longer than its size")

    def body(self, limit: int = MAX_JSON_BYTES) -> bytes:
        return b"".join(self.chunks(limit))

    def json(self, limit: int = MAX_JSON_BYTES) -> Any:
        raw = self.body(limit)
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, f"request body is not valid JSON ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise ApiError(400, f"request body must be a JSON object, got {type(data).__name__}")
        return data

    def form(self, limit: int = MAX_JSON_BYTES) -> dict[str, list[str]]:
        raw = self.body(limit).decode("utf-8", "replace")
        if raw.lstrip().startswith("{"):
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise ApiError(400, f"request body is not valid JSON ({type(exc).__name__})") from None
            if not isinstance(data, dict):
                raise ApiError(400, f"request body must be a JSON object, got {type(data).__name__}")
            return {str(k): [str(x) for x in v] if isinstance(v, list) else [str(v)] for k, v in data.items()}
        return parse_qs(raw, keep_blank_values=True)

    def lines(self, limit: int, max_line: int) -> Iterator[bytes]:
        """Newline-separated records of the body (NDJSON), each at most `max_line` bytes."""
        buffer = bytearray()
        for piece in self.chunks(limit):
            start = len(buffer)
            buffer += piece
            cut = buffer.find(b"\n", start)
            if cut >= 0:
                *lines, rest = bytes(buffer).split(b"\n")
                buffer = bytearray(rest)
                yield from (line for line in lines if line.strip())
            if len(buffer) > max_line:
                raise ApiError(413, f"a body line is over the {max_line}-byte limit")
        if buffer.strip():
            yield bytes(buffer)


@dataclass
class FileBody:
    path: Path
    start: int
    length: int

    def iter(self) -> Iterator[bytes]:
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            remaining = self.length
            while remaining:
                piece = handle.read(min(CHUNK, remaining))
                if not piece:
                    return
                remaining -= len(piece)
                yield piece


@dataclass
class Response:
    status: int = 200
    body: bytes | FileBody = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @property
    def length(self) -> int:
        return self.body.length if isinstance(self.body, FileBody) else len(self.body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None, content_type: str = "application/json") -> Response:
    return Response(status, json.dumps(data).encode(), dict(headers or {}), content_type)


def error_response(error: ApiError) -> Response:
    headers = {"X-Error-Message": _header_safe(error.message)}
    if error.code:
        headers["X-Error-Code"] = error.code
    headers.update(error.headers)
    body: dict[str, Any] = {"error": error.message, **error.extra}
    return json_response(body, error.status, headers)


def _header_safe(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ").encode("latin-1", "replace").decode("latin-1")[:1000]
