"""The OpenAI-compatible HTTP front (standard library `ThreadingHTTPServer`, one thread per connection).

Routes: `GET /health` (no key needed), `GET /v1/models`, `GET /v1/models/{id}` and
`POST /v1/chat/completions` (JSON, or server-sent events with `"stream": true`, sent with
chunked transfer encoding so connections stay alive). With an API key every `/v1` route wants
`Authorization: Bearer <key>`. Bodies over the size limit are refused before they are read.
Every error is an OpenAI error object with its status code. A streaming client that goes away
has its request cancelled, which frees its place in the batch at the next step.
"""

from __future__ import annotations

import hmac
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from loguru import logger

from flock_subnet.errors import FlockError
from flock_subnet.serve import api
from flock_subnet.serve.api import ApiError, ChatRequest, Usage
from flock_subnet.serve.generation import (
    Failed,
    Finished,
    GenerationRequest,
    Stream,
    TextDelta,
)
from flock_subnet.serve.slot import ModelSlot, ServedModel

_log = logger.bind(component="serve")
DEFAULT_MAX_REQUEST_BYTES = 1 << 20
IDLE_CONNECTION_TIMEOUT_S = 120
_ROUTES = {"/health": "GET", "/v1/models": "GET", "/v1/chat/completions": "POST"}


class ServerStartError(FlockError):
    """The HTTP server could not start."""


@dataclass(frozen=True)
class ServerConfig:
    api_key: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    event_timeout_s: float = 600.0  # longest wait for the next token before a request is failed


class ServeApp:
    """What the handler needs: the model slot, the limits, and extra health information."""

    def __init__(self, slot: ModelSlot, config: ServerConfig | None = None,
                 status: Callable[[], dict[str, Any]] | None = None) -> None:
        self.slot = slot
        self.config = config or ServerConfig()
        self.status = status
        self.started = time.time()
        self._busy = 0
        self._idle = threading.Condition()

    @contextmanager
    def working(self) -> Iterator[None]:
        """Count a request in flight for as long as it is handled."""
        with self._idle:
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no chat request is being handled; False if some still are after `timeout` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def health(self) -> tuple[int, dict[str, Any]]:
        served = self.slot.served
        body: dict[str, Any] = {"uptime_s": round(time.time() - self.started, 1)}
        if self.status is not None:
            body.update(self.status())
        if served is None:
            return 503, {"status": "waiting", "reason": self.slot.waiting_reason, **body}
        running, waiting = served.engine.pending()
        return 200, {"status": "ok", "model": served.model_id, "engine": served.engine.name, "running": running,
                     "waiting": waiting, "swaps": self.slot.swaps, **body}


def _generation_request(request: ChatRequest, served: ServedModel) -> GenerationRequest:
    try:
        ids = served.encode_chat(request.messages)
    except Exception as exc:  # a template that rejects these messages
        raise ApiError(400, f"the chat template cannot render these messages: {exc}", param="messages") from None
    room = served.context_length - len(ids)
    if room < 1:
        raise ApiError(400, f"the messages take {len(ids)} tokens and this model's context is {served.context_length}; "
                       "send fewer or shorter messages", param="messages", code="context_length_exceeded")
    max_tokens = min(request.max_tokens or room, room)
    return GenerationRequest(tuple(ids), max_tokens, request.temperature, request.top_p, request.seed, request.stop,
                             request.ignore_eos, stream=request.stream)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flock-serve/1"
    timeout = IDLE_CONNECTION_TIMEOUT_S
    app: ServeApp

    # ------------------------------------------------------------------ plumbing

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("{} {}", self.address_string(), format % args)

    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: ApiError) -> None:
        self._send_json(error.status, error.body(), error.headers)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    # ------------------------------------------------------------------ requests

    def _dispatch(self) -> None:
        try:
            path = unquote(urlsplit(self.path).path).rstrip("/") or "/"
            self._route(path)
        except ApiError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a server bug: answer 500 and keep serving
            _log.exception("{} {} failed", self.command, self.path)
            self._send_error(ApiError(500, f"internal server error: {type(exc).__name__}: {exc}", api.SERVER_ERROR))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def _route(self, path: str) -> None:
        if path == "/health" and self.command == "GET":
            status, body = self.app.health()
            self._send_json(status, body)
            return
        known = _ROUTES.get(path) or ("GET" if path.startswith("/v1/models/") else None)
        if known is None or known != self.command:
            if self.headers.get("Content-Length") not in (None, "0"):
                self.close_connection = True  # the body stays unread
            if known is None:
                raise ApiError(404, f"Invalid URL ({self.command} {path}); this server has GET /v1/models and "
                               "POST /v1/chat/completions", code="unknown_url")
            raise ApiError(405, f"{path} takes {known}, not {self.command}", code="method_not_allowed",
                           headers={"Allow": known})
        self._authorize()
        if path == "/v1/models":
            self._send_json(200, api.models_body(self.app.slot.cards()))
        elif path.startswith("/v1/models/"):
            wanted = path[len("/v1/models/"):]
            cards = [card for card in self.app.slot.cards() if card.id == wanted]
            if not cards:
                raise ApiError(404, f"the model {wanted!r} does not exist (GET /v1/models lists the served ones)",
                               param="model", code="model_not_found")
            self._send_json(200, cards[0].body())
        else:
            with self.app.working():
                self._chat(api.parse_chat_request(self._read_body()))

    def _authorize(self) -> None:
        key = self.app.config.api_key
        if not key:
            return
        given = self.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            if self.headers.get("Content-Length") not in (None, "0"):
                self.close_connection = True
            raise ApiError(401, "missing or incorrect API key; send 'Authorization: Bearer <key>'",
                           api.AUTHENTICATION, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ApiError(411, "send the request body with a Content-Length header", code="length_required")
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise ApiError(411, "send the request body with a valid Content-Length header", code="length_required")
        limit = self.app.config.max_request_bytes
        if length > limit:
            self.close_connection = True
            raise ApiError(413, f"the request body has {length} bytes; this server takes at most {limit}",
                           code="request_too_large")
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise ApiError(400, "the request body ended before Content-Length bytes arrived")
        return body

    def _next_event(self, stream: Stream) -> TextDelta | Finished | Failed:
        try:
            return stream.next(timeout=self.app.config.event_timeout_s)
        except queue.Empty:
            stream.cancel()
            return Failed(f"no token came for {self.app.config.event_timeout_s:g} s; the engine is stuck or overloaded")

    def _chat(self, request: ChatRequest) -> None:
        served, stream = self.app.slot.submit(request.model, lambda model: _generation_request(request, model))
        cid, created = api.completion_id(), int(time.time())
        fingerprint = f"flock-{served.engine.name}"
        if request.stream:
            self._stream_chat(request, served, stream, cid, created, fingerprint)
            return
        parts: list[str] = []
        try:
            while isinstance(event := self._next_event(stream), TextDelta):
                parts.append(event.text)
        finally:
            stream.cancel()  # no-op once finished; frees the slot if this thread is interrupted
        if isinstance(event, Failed):
            raise ApiError(500, event.message, api.SERVER_ERROR)
        usage = Usage(event.prompt_tokens, event.completion_tokens)
        self._send_json(200, api.completion_body(cid, created, served.model_id, "".join(parts), event.reason.value,
                                                 usage, fingerprint))

    def _stream_chat(self, request: ChatRequest, served: ServedModel, stream: Stream, cid: str, created: int,
                     fingerprint: str) -> None:
        def chunk(**fields: Any) -> bytes:
            return api.sse(api.chunk_body(cid, created, served.model_id, fingerprint, **fields))

        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(chunk(delta={"role": "assistant", "content": ""}))
            while isinstance(event := self._next_event(stream), TextDelta):
                self._chunk(chunk(delta={"content": event.text}))
            if isinstance(event, Failed):
                self._chunk(api.sse(api.error_body(event.message, api.SERVER_ERROR)))
            else:
                self._chunk(chunk(delta={}, finish_reason=event.reason.value))
                if request.include_usage:
                    self._chunk(chunk(usage=Usage(event.prompt_tokens, event.completion_tokens)))
            self._chunk(api.sse("[DONE]"))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
            _log.debug("client went away during a stream; cancelling it")
        finally:
            stream.cancel()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class RunningServer:
    """A bound server; `start()` serves in a background thread, `serve_forever()` in this one."""

    def __init__(self, server: _Server, app: ServeApp) -> None:
        self._server = server
        self.app = app
        self.host, self.port = server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> RunningServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"serve:{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop taking connections (callable from another thread while `serve_forever` runs)."""
        self._server.shutdown()

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
        self._server.close_connections()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_server(app: ServeApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Bind `host:port` (0 picks a free port) for `app`; nothing is served until started."""
    handler = type("ServeHandler", (_Handler,), {"app": app})
    try:
        server = _Server((host, port), handler)
    except OSError as exc:
        raise ServerStartError(f"cannot listen on {host}:{port} ({exc}); pick another --port or stop what uses it") from None
    return RunningServer(server, app)
