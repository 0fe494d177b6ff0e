"""Serve the leaderboard live over HTTP (stdlib `ThreadingHTTPServer`), refreshed once per block.

A board is gathered at most every `refresh_s` seconds and its pages rendered once; requests in
between are answered from memory. When the chain cannot be read the last good board stays up
with a banner saying so (or, before the first one, an error page that reloads itself). The
server also remembers every commitment it has seen, so miners' pages list earlier ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from loguru import logger

from flock_subnet.chain.base import CommitmentRecord
from flock_subnet.errors import FlockError
from flock_subnet.leaderboard import render
from flock_subnet.leaderboard.model import Board

Gather = Callable[[Mapping[str, Sequence[CommitmentRecord]]], Board]
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".json": "application/json; charset=utf-8"}


class BoardCache:
    """The latest board and its rendered pages, gathered again once older than `refresh_s`.

    One request at a time gathers a new board, outside the page lock: the others keep getting the
    current pages meanwhile (only before the first board do they wait for it).
    """

    def __init__(self, gather: Gather, refresh_s: float = render.DEFAULT_REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._gather = gather
        self.refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()  # guards the board and its pages
        self._gathering = threading.Lock()  # one gather at a time
        self._board: Board | None = None
        self._pages: dict[str, str] = {}
        self._built_at = -float("inf")
        self.error: str | None = None
        self.seen: dict[str, list[CommitmentRecord]] = {}

    def _stale(self) -> bool:
        return self._clock() - self._built_at >= self.refresh_s

    def refresh(self) -> None:
        """Gather a new board if the current one is stale (and nobody else is gathering already)."""
        if not self._gathering.acquire(blocking=self._board is None):
            return
        try:
            if not self._stale():
                return
            try:
                board = self._gather(self.seen)
            except FlockError as exc:
                shown = "Showing the last board read" if self._board else "No board was read yet"
                logger.warning("leaderboard: cannot gather the board: {}", exc)
                with self._lock:
                    self.error = f"{exc}. {shown}; retrying every {self.refresh_s:g} s."
                    self._built_at, self._pages = self._clock(), {}
                return
            self._remember(board)
            with self._lock:
                self.error = None
                self._board, self._pages, self._built_at = board, {}, self._clock()
        finally:
            self._gathering.release()

    def _remember(self, board: Board) -> None:
        """Keep every commitment seen on chain: the chain only holds a hotkey's latest one."""
        for page in board.miners.values():
            for entry in page.commitments:
                if entry.source != "chain":
                    continue
                known = self.seen.setdefault(page.hotkey, [])
                if all(record.data != entry.text for record in known):
                    known.append(CommitmentRecord(page.hotkey, entry.text, entry.block or 0))

    def page(self, path: str) -> tuple[int, str, str]:
        """(HTTP status, content type, body) for a site path such as `index.html` or `miners/3.html`."""
        if path == render.STYLESHEET:
            return HTTPStatus.OK, CONTENT_TYPES[".css"], render.stylesheet()
        if self._stale():
            self.refresh()
        with self._lock:
            if path in self._pages:
                return HTTPStatus.OK, _content_type(path), self._pages[path]
            status, body = self._render(path)
            if status == HTTPStatus.OK:
                self._pages[path] = body
            return status, _content_type(path) if status == HTTPStatus.OK else CONTENT_TYPES[".html"], body

    def _render(self, path: str) -> tuple[int, str]:
        live, refresh = True, max(1, round(self.refresh_s))
        board = self._board
        if board is None:
            return HTTPStatus.SERVICE_UNAVAILABLE, render.error_page(self.error or "no board yet", live, refresh)
        if path == "index.html":
            return HTTPStatus.OK, render.index_page(board, live, refresh, self.error)
        if path == "delegators.html":
            return HTTPStatus.OK, render.delegators_page(board, live, refresh, self.error)
        if path == render.DATA_FILE:
            return HTTPStatus.OK, render.board_json(board)
        if path.startswith("miners/") and path.endswith(".html"):
            uid = path[len("miners/"):-len(".html")]
            if uid.isdigit():
                body = render.miner_page(board, int(uid), live, refresh, self.error)
                if body is not None:
                    return HTTPStatus.OK, body
        return HTTPStatus.NOT_FOUND, render.error_page(f"there is no page at /{path}", live=False)


def _content_type(path: str) -> str:
    suffix = path[path.rfind("."):] if "." in path else ".html"
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


def _site_path(raw: str) -> str:
    path = urlsplit(raw).path.lstrip("/")
    if path in ("", "miners", "miners/"):
        return "index.html"
    return path


def make_handler(cache: BoardCache) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "flock-leaderboard"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self._answer(send_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(send_body=False)

        def _answer(self, send_body: bool) -> None:
            try:
                status, content_type, body = cache.page(_site_path(self.path))
            except Exception as exc:  # noqa: BLE001 - one bad page must not take the server down
                logger.exception("leaderboard: rendering {} failed", self.path)
                status, content_type = HTTPStatus.INTERNAL_SERVER_ERROR, CONTENT_TYPES[".html"]
                body = render.error_page(f"rendering this page failed: {exc}", live=False)
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if send_body:
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
            logger.debug("leaderboard: {}", format % args)

    return Handler


def make_server(cache: BoardCache, host: str = "127.0.0.1", port: int = 8096) -> ThreadingHTTPServer:
    """A server bound to (host, port) (port 0 picks a free one); call `serve_forever()` on it."""
    try:
        server = ThreadingHTTPServer((host, port), make_handler(cache))
    except OSError as exc:
        raise FlockError(f"cannot listen on {host}:{port}: {exc}; pick another --port") from exc
    server.daemon_threads = True
    return server
