"""A local Hugging Face Hub-compatible HTTP server (standard library only), for tests, the demo
and offline subnets.

`start_hub_server(root)` serves in a background thread and returns a `RunningHub` (`.url`,
`.stop()`, a context manager); `flock-subnet hub serve` runs the same server in the foreground.
The real `huggingface_hub` client and `transformers` talk to it through `HF_ENDPOINT` (or an
explicit endpoint) with `HF_HUB_DISABLE_XET=1`. State lives under `root` and survives restarts.

`RunningHub.fail_next(...)` makes the next requests fail with a chosen status (429 with
`Retry-After`, 503, ...) so callers can test how they handle a struggling hub.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from loguru import logger

from flock_subnet.errors import FlockError
from flock_subnet.kit.localhub.api import DEFAULT_MAX_OBJECT_BYTES, HubApp
from flock_subnet.kit.localhub.store import ApiError, HubStore
from flock_subnet.kit.localhub.wire import FileBody, Request, Response, error_response

_log = logger.bind(component="hub")
IDLE_CONNECTION_TIMEOUT_S = 120


class HubServerError(FlockError):
    """The hub server could not start."""


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: float | None
    path_contains: str | None


class _FaultPlan:
    """Requests that are to fail on purpose (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, raw_path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains is None or fault.path_contains in raw_path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flock-local-hub/1"
    timeout = IDLE_CONNECTION_TIMEOUT_S
    app: HubApp
    faults: _FaultPlan

    def _serve(self) -> None:
        req = Request(self.command, self.path, self.headers, self.rfile)
        fault = self.faults.take(self.path)
        if fault is not None:
            response = error_response(ApiError(fault.status, f"the hub failed this request on purpose ({fault.status})"))
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(int(fault.retry_after) if float(fault.retry_after).is_integer() else fault.retry_after)
        else:
            try:
                response = self.app.handle(req)
            except Exception as exc:  # a server bug: answer 500, keep serving
                _log.exception("hub request {} {} failed", self.command, self.path)
                response = error_response(ApiError(500, f"internal hub error: {type(exc).__name__}: {exc}"))
        self._send(req, response)

    def _send(self, req: Request, response: Response) -> None:
        if req.has_body and not req.body_done:
            self.close_connection = True  # the unread body would corrupt the next request
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(response.length))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if isinstance(response.body, FileBody):
                for piece in response.body.iter():
                    self.wfile.write(piece)
            else:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)  # type: ignore[attr-defined]

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base class)
        _log.trace("{} {}", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args, **kwargs) -> None:
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
        """End kept-alive client connections, so no request reaches a stopped hub."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class RunningHub:
    """A hub server serving in a background thread. Use as a context manager or call `stop()`."""

    def __init__(self, server: _Server, store: HubStore, faults: _FaultPlan, root: Path) -> None:
        self._server = server
        self.store = store
        self._faults = faults
        self.root = root
        self.host, self.port = server.server_address[:2]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"hub-server:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}"

    def _start(self) -> RunningHub:
        self._thread.start()
        return self

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None, path_contains: str | None = None) -> None:
        """Answer the next `times` requests (whose path contains `path_contains`, if given) with `status`."""
        self._faults.add(_Fault(status, times, retry_after, path_contains))

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_tokens(self, tokens: dict[str, str]) -> None:
        """Add users or change their tokens (user -> token) while running."""
        self.store.set_tokens(tokens)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
        self._server.close_connections()
        self.store.close()

    def __enter__(self) -> RunningHub:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningHub(url={self.url!r}, root={str(self.root)!r})"


def make_server(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    tokens: dict[str, str] | None = None,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
) -> RunningHub:
    """Bind the server (not serving yet); `RunningHub._start()` or `serve_forever` serve it."""
    root = Path(root)
    store = HubStore(root)
    if tokens:
        store.set_tokens(tokens)
    faults = _FaultPlan()
    handler = type("HubHandler", (_Handler,), {"faults": faults})
    try:
        server = _Server((host, port), handler)
    except OSError as exc:
        store.close()
        raise HubServerError(f"cannot listen on {host}:{port} ({exc}); pick another --port or stop what uses it") from None
    running = RunningHub(server, store, faults, root)
    handler.app = HubApp(store, running.url, secret=os.urandom(32), max_object_bytes=max_object_bytes)
    return running


def start_hub_server(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    tokens: dict[str, str] | None = None,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
) -> RunningHub:
    """Start a hub on `host:port` (0 picks a free port) storing under `root`; users are `tokens` (user -> token)."""
    return make_server(root, host, port, tokens, max_object_bytes)._start()


def serve_forever(running: RunningHub) -> None:
    """Serve in the calling thread until interrupted."""
    try:
        running._server.serve_forever(poll_interval=0.2)
    finally:
        running._server.server_close()
        running._server.close_connections()
        running.store.close()


