"""`leaderboard serve`: pages over HTTP, fast, and still up when the state or the chain is not."""

from __future__ import annotations

import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from flock_subnet.chain.base import ChainUnavailable
from flock_subnet.leaderboard.server import BoardCache, make_server
from tests.leaderboard.conftest import state_copy

PAGES = ("/", "/index.html", "/delegators.html", "/miners/3.html", "/style.css", "/leaderboard.json")


@contextmanager
def serving(cache: BoardCache) -> Iterator[str]:
    server = make_server(cache, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode("utf-8")


def test_every_page_answers_within_200_ms(make_source):
    cache = BoardCache(make_source().gather, refresh_s=60)
    with serving(cache) as base:
        started = time.perf_counter()
        status, _, body = get(base + "/")
        cold = time.perf_counter() - started
        assert status == 200 and "Standings on subnet 1" in body
        for path in PAGES:
            started = time.perf_counter()
            status, content_type, body = get(base + path)
            elapsed = time.perf_counter() - started
            assert status == 200, (path, body[:500])
            assert elapsed < 0.2, f"{path} took {elapsed * 1000:.0f} ms"
        # the first page also compiles the templates and reads the chain and the state once
        assert cold < 2.0, f"the first page took {cold * 1000:.0f} ms"
        assert get(base + "/style.css")[1].startswith("text/css")
        assert get(base + "/leaderboard.json")[1].startswith("application/json")
        assert '<meta http-equiv="refresh" content="60">' in get(base + "/delegators.html")[2]
        assert get(base + "/miners/999.html")[0] == 404
        assert get(base + "/../etc/passwd")[0] == 404


def test_a_missing_state_file_shows_a_clear_message_and_the_chain_numbers(make_source, tmp_path):
    missing = tmp_path / "nowhere"
    cache = BoardCache(make_source(missing).gather, refresh_s=60)
    with serving(cache) as base:
        status, _, body = get(base + "/")
    assert status == 200
    assert f"no validator state at {missing / 'state.db'}" in body
    assert "--validator.workdir" in body
    assert 'data-col="incentive"' in body and 'data-uid="3"' in body  # the chain's part still shows
    assert not missing.exists(), "reading the state must never create it"


@contextmanager
def locked(path) -> Iterator[None]:
    """Hold an exclusive lock on the SQLite file, as a process in the middle of a long write would."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE counters SET value = value WHERE 0")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_a_locked_state_file_shows_a_message_then_recovers(make_source, sample, tmp_path):
    state = state_copy(sample, tmp_path / "validator")
    cache = BoardCache(make_source(state.parent).gather, refresh_s=0)
    with serving(cache) as base:
        with locked(state):
            started = time.perf_counter()
            status, _, body = get(base + "/")
            elapsed = time.perf_counter() - started
            assert status == 200
            assert "is locked by another process" in body and str(state) in body
            assert 'data-col="loss" data-value=""' in body  # no losses without the state
            assert elapsed < 2.0
            miner = get(base + "/miners/3.html")
            assert miner[0] == 200 and "locked by another process" in miner[2]
        status, _, body = get(base + "/")
    assert status == 200 and "locked by another process" not in body
    assert 'data-col="loss" data-value="1.' in body


def test_an_unreadable_state_file_says_so(make_source, tmp_path):
    folder = tmp_path / "validator"
    folder.mkdir()
    (folder / "state.db").write_bytes(b"this is not a database" * 100)
    board = make_source(folder).gather()
    [warning] = [n for n in board.warnings if n.label == "validator state"]
    assert "is not a SQLite database" in warning.message or "cannot read" in warning.message
    assert board.competitions and board.competitions[0].standings


def test_the_chain_going_away_keeps_the_last_board_with_a_banner():
    calls = {"n": 0}
    good: dict = {}

    def gather(seen):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ChainUnavailable("ws://127.0.0.1:9944 refused the connection")
        if calls["n"] >= 3:
            raise ChainUnavailable("the node stopped answering")
        return good["board"]

    cache = BoardCache(gather, refresh_s=0)
    with serving(cache) as base:
        status, _, body = get(base + "/")
        assert status == 503 and "refused the connection" in body and 'http-equiv="refresh"' in body
        good["board"] = _tiny_board()
        status, _, body = get(base + "/")
        assert status == 200 and "could not read the chain" not in body
        status, _, body = get(base + "/")
        assert status == 200 and "the node stopped answering" in body and "Standings on subnet 7" in body


def _tiny_board():
    from flock_subnet.leaderboard.model import Board

    return Board(netuid=7, block=100, generated_at=time.time(), chain_label="test", hub_url="https://huggingface.co",
                 epoch_blocks=361, notes=(), competitions=(), outsiders=(), delegates=(), miners={},
                 emission_per_day_rao=0.0, state_path=None)


@pytest.mark.parametrize("path", ["/index.html", "/delegators.html"])
def test_head_requests_answer_without_a_body(make_source, path):
    cache = BoardCache(make_source().gather, refresh_s=60)
    with serving(cache) as base:
        request = urllib.request.Request(base + path, method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and int(response.headers["Content-Length"]) > 1000
            assert response.read() == b""


def test_the_server_remembers_commitments_the_chain_replaced(sample, make_source, tmp_path):
    from flock_subnet.kit.localchain.blockhash import key_path
    from flock_subnet.kit.localchain.chain import LocalChain
    from flock_subnet.models.checkpoint import salted_hash
    from flock_subnet.rules import protocol

    copy = tmp_path / "chain.db"
    source_db, target_db = sqlite3.connect(str(sample.chain_path)), sqlite3.connect(str(copy))
    source_db.backup(target_db)
    source_db.close()
    target_db.close()
    key_path(copy).write_bytes(key_path(sample.chain_path).read_bytes())  # a chain opens with its block-hash key
    base = next(a for a in sample.run.actors if a.kind == "base")
    with LocalChain.open(copy) as chain:
        cache = BoardCache(make_source(chain=chain).gather, refresh_s=0)
        assert cache.page(f"miners/{base.uid}.html")[0] == 200
        old = protocol.decode(chain.commitments(1)[base.wallet.hotkey.ss58_address].data)
        chain.advance(50)
        new = protocol.ModelReference("base/tiny-base-v2", "f" * 40,
                                      salted_hash("e" * 64, base.wallet.hotkey.ss58_address), "local")
        chain.commit(base.wallet, 1, protocol.encode(new)).raise_for_error()
        status, _, body = cache.page(f"miners/{base.uid}.html")
    assert status == 200
    assert f"base/tiny-base-v2@{'f' * 8}" in body
    assert "seen earlier" in body and f"{old.repo_id}@{old.revision[:8]}" in body


def test_pages_keep_answering_while_a_slow_chain_read_is_under_way():
    slow = threading.Event()

    def gather(seen):
        if slow.is_set():
            time.sleep(1.5)
        return _tiny_board()

    cache = BoardCache(gather, refresh_s=0)
    with serving(cache) as base:
        assert get(base + "/")[0] == 200
        slow.set()
        reader = threading.Thread(target=get, args=(base + "/index.html",))
        reader.start()
        time.sleep(0.2)  # the reader is now gathering
        started = time.perf_counter()
        status, _, body = get(base + "/delegators.html")
        elapsed = time.perf_counter() - started
        reader.join()
    assert status == 200 and "Staking on a validator" in body
    assert elapsed < 0.2, f"a page waited {elapsed * 1000:.0f} ms for someone else's chain read"
