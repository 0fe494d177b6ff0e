"""A local Hugging Face Hub-compatible HTTP server (standard library only), for tests, the demo
and offline subnets.

`start_hub_server(root)` serves in a background thread and returns a `RunningHub` (`.url`,
`.stop()`, a context manager); `flock-subnet hub serve` runs the same server in the foreground.
The real `huggingface_hub` client and `transformers` talk to it through `HF_ENDPOINT` (or an
explicit endpoint) with `HF_HUB_DISABLE_XET=1`. State lives under `root` and survives restarts.

Facing a LAN, it bounds what one client can hold: at most `max_connections` connections (one
thread each) at once, each request's line and headers within the idle timeout plus
`header_timeout_s` however slowly they drip in, and a strict HTTP parser (`wire`).

`RunningHub.fail_next(...)` makes the next requests fail with a chosen status (429 with
`Retry-After`, 503, ...), `RunningHub.trickle_next(...)` makes them answer their bodies at a few
bytes per second and `RunningHub.truncate_next(...)` hang up halfway through, so callers can
test how they handle a struggling hub.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
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
HEADER_TIMEOUT_S = 30.0  # a request's line and headers must arrive within the idle wait plus this
MAX_CONNECTIONS = 64  # connections served at once; more are answered 503 and closed
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"


class HubServerError(FlockError):
    """The hub server could not start."""


_TRUNCATE, _RESET = -1.0, -2.0  # body modes passed where a trickle rate goes


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: float | None
    path_contains: str | None
    trickle_bytes_per_s: float | None = None  # answer normally, but this slowly
    truncate: bool = False  # answer normally, but hang up halfway through the body
    reset: bool = False  # answer normally, but reset the connection (TCP RST) halfway through the body


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

    header_timeout_s: float = HEADER_TIMEOUT_S
    _deadline: threading.Timer | None = None

    def handle_one_request(self) -> None:
        """One request; a client that has not sent its line and headers in time is cut off."""
        self._deadline = threading.Timer(self.timeout + self.header_timeout_s, self._cut)
        self._deadline.daemon = True
        self._deadline.start()
        try:
            super().handle_one_request()
        except OSError:  # reset, timed out or cut off: this connection is over
            self.close_connection = True
        finally:
            self._deadline.cancel()

    def _cut(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()  # the headers are in
        req = Request(self.command, self.path, self.headers, self.rfile)
        try:
            req.validate()
        except ApiError as exc:
            self.close_connection = True
            self._send(req, error_response(exc))
            return
        fault = self.faults.take(self.path)
        trickle = None
        if fault is not None and fault.truncate:
            trickle, fault = _TRUNCATE, None
        elif fault is not None and fault.reset:
            trickle, fault = _RESET, None
        elif fault is not None and fault.trickle_bytes_per_s is not None:
            trickle, fault = fault.trickle_bytes_per_s, None
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
        self._send(req, response, trickle)

    def _send(self, req: Request, response: Response, trickle: float | None = None) -> None:
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
            if trickle is not None:
                self._trickle(response, trickle)
            elif isinstance(response.body, FileBody):
                for piece in response.body.iter():
                    self.wfile.write(piece)
            else:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _trickle(self, response: Response, bytes_per_s: float) -> None:
        pieces = response.body.iter() if isinstance(response.body, FileBody) else [response.body]
        if bytes_per_s < 0:  # truncate or reset: half the body, then hang up
            self.wfile.write(b"".join(pieces)[: response.length // 2])
            self.wfile.flush()
            self.close_connection = True
            if bytes_per_s == _RESET:  # linger 0: closing sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                return
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        step = max(1, int(bytes_per_s / 10))
        for piece in pieces:
            for at in range(0, len(piece), step):
                self.wfile.write(piece[at : at + step])
                self.wfile.flush()
                time.sleep(step / bytes_per_s)

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

    def __init__(self, *args, max_connections: int = MAX_CONNECTIONS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, max_connections))

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        if not self._slots.acquire(blocking=False):  # full: say so and hang up, start no thread
            try:
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

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

    def trickle_next(self, bytes_per_s: float, times: int = 1, path_contains: str | None = None) -> None:
        """Answer the next `times` requests (whose path contains `path_contains`, if given) at `bytes_per_s`."""
        self._faults.add(_Fault(200, times, None, path_contains, trickle_bytes_per_s=float(bytes_per_s)))

    def truncate_next(self, times: int = 1, path_contains: str | None = None) -> None:
        """Answer the next `times` requests (whose path contains `path_contains`, if given) with half their body."""
        self._faults.add(_Fault(200, times, None, path_contains, truncate=True))

    def reset_next(self, times: int = 1, path_contains: str | None = None) -> None:
        """Answer the next `times` requests (whose path contains `path_contains`, if given) with half their
        body, then reset the connection."""
        self._faults.add(_Fault(200, times, None, path_contains, reset=True))

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
    max_connections: int = MAX_CONNECTIONS,
    idle_timeout_s: float = IDLE_CONNECTION_TIMEOUT_S,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    max_user_bytes: int | None = None,
) -> RunningHub:
    """Bind the server (not serving yet); `RunningHub._start()` or `serve_forever` serve it."""
    root = Path(root)
    store = HubStore(root)
    if tokens:
        store.set_tokens(tokens)
    faults = _FaultPlan()
    handler = type("HubHandler", (_Handler,), {
        "faults": faults, "timeout": idle_timeout_s, "header_timeout_s": header_timeout_s,
    })
    try:
        server = _Server((host, port), handler, max_connections=max_connections)
    except OSError as exc:
        store.close()
        raise HubServerError(f"cannot listen on {host}:{port} ({exc}); pick another --port or stop what uses it") from None
    running = RunningHub(server, store, faults, root)
    handler.app = HubApp(
        store, running.url, secret=os.urandom(32), max_object_bytes=max_object_bytes, max_user_bytes=max_user_bytes
    )
    return running


def start_hub_server(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    tokens: dict[str, str] | None = None,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    **limits: float,
) -> RunningHub:
    """Start a hub on `host:port` (0 picks a free port) storing under `root`; users are `tokens` (user -> token).

    `limits` are `make_server`'s `max_connections`, `idle_timeout_s`, `header_timeout_s` and `max_user_bytes`.
    """
    return make_server(root, host, port, tokens, max_object_bytes, **limits)._start()  # type: ignore[arg-type]


def serve_forever(running: RunningHub) -> None:
    """Serve in the calling thread until interrupted."""
    try:
        running._server.serve_forever(poll_interval=0.2)
    finally:
        running._server.server_close()
        running._server.close_connections()
        running.store.close()


