"""The local hub is strict about HTTP, so it can face a LAN: odd lengths, chunk sizes, control
characters in headers, request-smuggling combinations and malformed JSON are 4xx answers (never
a 500 or a hung connection), and refs named like a commit id are refused."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import pytest
from huggingface_hub.errors import HfHubHTTPError

from tests.hub.test_server_protocol import api_for


def _raw(local_hub, head: str, body: bytes = b"") -> int:
    """Send one raw request, return the status code of the answer."""
    url = urlparse(local_hub.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(head.encode("latin-1") + b"\r\n" + body)
        answer = b""
        while b"\r\n" not in answer:
            piece = conn.recv(4096)
            if not piece:
                break
            answer += piece
    return int(answer.split(b" ", 2)[1])


def _post(local_hub, headers: list[str], body: bytes = b"") -> int:
    lines = ["POST /api/repos/create HTTP/1.1", "Host: hub", f"Authorization: Bearer {local_hub.token('alice')}", *headers]
    return _raw(local_hub, "\r\n".join(lines) + "\r\n", body)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (["Content-Length: -1"], b""),
        (["Content-Length: +2"], b"{}"),
        (["Content-Length: 2_0"], b"{}"),
        (["Content-Length: 123456789012345678901234"], b"{}"),
        (["Content-Length: 2", "Content-Length: 3"], b"{}"),
        (["Content-Length: 2", "Transfer-Encoding: chunked"], b"2\r\n{}\r\n0\r\n\r\n"),
        (["Transfer-Encoding: gzip, chunked"], b"2\r\n{}\r\n0\r\n\r\n"),
        (["Transfer-Encoding: chunked"], b"-2\r\n{}\r\n0\r\n\r\n"),
        (["Transfer-Encoding: chunked"], b"0x2\r\n{}\r\n0\r\n\r\n"),
        (["Transfer-Encoding: chunked"], b"1\r\n{}\r\n0\r\n\r\n"),
        (["X-Note: a\x01b", "Content-Length: 2"], b"{}"),
    ],
)
def test_malformed_framing_is_a_400(local_hub, headers, body):
    assert _post(local_hub, headers, body) == 400


@pytest.mark.parametrize("body", [b"[1, 2]", b"{\"name\": ", b"[" * 100_000 + b"]" * 100_000, b"\"text\""])
def test_malformed_json_is_a_4xx(local_hub, body):
    status = _post(local_hub, [f"Content-Length: {len(body)}", "Content-Type: application/json"], body)
    assert 400 <= status < 500


def test_the_hub_still_serves_after_hostile_requests(local_hub):
    assert _post(local_hub, ["Transfer-Encoding: chunked"], b"zz\r\n") == 400
    good = json.dumps({"name": "fine", "type": "model"}).encode()
    assert _post(local_hub, [f"Content-Length: {len(good)}", "Content-Type: application/json"], good) == 200


def test_refs_named_like_a_commit_id_are_refused(local_hub):
    api = api_for(local_hub, "alice")
    api.create_repo("alice/refs")
    for create in (lambda: api.create_branch("alice/refs", branch="a" * 40), lambda: api.create_tag("alice/refs", tag="B" * 40)):
        with pytest.raises(HfHubHTTPError) as info:
            create()
        assert info.value.response.status_code == 400
    api.create_branch("alice/refs", branch="release-1")  # an ordinary name still works
