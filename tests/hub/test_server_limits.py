"""The local hub on a LAN: nobody links or probes another user's private blob by its hash, stored
files no commit refers to are reclaimed (`flock-subnet hub gc`), and connections are bounded
(a full server answers 503, a client dripping its headers is cut off)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import httpx2

from flock_subnet.kit.localhub.server import start_hub_server
from tests.hub.test_server_protocol import add, api_for


def _batch(local_hub, user: str, repo: str, oid: str, size: int) -> dict:
    return httpx2.post(
        f"{local_hub.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {local_hub.token(user)}"},
        json={"operation": "upload", "objects": [{"oid": oid, "size": size}]},
    ).json()["objects"][0]


def _link(local_hub, user: str, repo: str, oid: str, size: int) -> int:
    header = json.dumps({"key": "header", "value": {"summary": "link"}})
    line = json.dumps({"key": "lfsFile", "value": {"path": "stolen.safetensors", "algo": "sha256", "oid": oid, "size": size}})
    return httpx2.post(
        f"{local_hub.url}/api/models/{repo}/commit/main", content=header + "\n" + line + "\n",
        headers={"Authorization": f"Bearer {local_hub.token(user)}", "Content-Type": "application/x-ndjson"},
    ).status_code


def test_a_private_blob_cannot_be_linked_or_probed_by_its_hash(local_hub):
    secret = os.urandom(2048)
    oid = hashlib.sha256(secret).hexdigest()
    alice, bob = api_for(local_hub, "alice"), api_for(local_hub, "bob")
    alice.create_repo("alice/private", private=True)
    alice.create_commit("alice/private", [add("w.safetensors", secret)], commit_message="secret")
    bob.create_repo("bob/thief")
    unknown = _batch(local_hub, "bob", "bob/thief", hashlib.sha256(b"never stored").hexdigest(), 12)
    asked = _batch(local_hub, "bob", "bob/thief", oid, len(secret))
    assert "upload" in asked["actions"] and "upload" in unknown["actions"]  # the same answer: no probe
    assert _link(local_hub, "bob", "bob/thief", oid, len(secret)) == 422
    assert _batch(local_hub, "alice", "alice/private", oid, len(secret)).get("actions") is None  # the owner may
    assert httpx2.put(asked["actions"]["upload"]["href"], content=b"\0" * len(secret)).status_code == 400
    assert httpx2.put(asked["actions"]["upload"]["href"], content=secret).status_code == 200  # bob holds the bytes
    assert _link(local_hub, "bob", "bob/thief", oid, len(secret)) == 200
    alice.update_repo_settings("alice/private", private=False)
    public = os.urandom(1024)
    alice.create_commit("alice/private", [add("p.safetensors", public)], commit_message="public")
    assert _link(local_hub, "bob", "bob/thief", hashlib.sha256(public).hexdigest(), len(public)) == 200  # readable


def test_gc_reclaims_files_no_commit_refers_to(local_hub):
    api = api_for(local_hub, "alice")
    api.create_repo("alice/gone")
    kept, dropped = os.urandom(3000), os.urandom(5000)
    api.create_repo("alice/kept")
    api.create_commit("alice/kept", [add("k.safetensors", kept)], commit_message="k")
    api.create_commit("alice/gone", [add("d.safetensors", dropped)], commit_message="d")
    api.delete_repo("alice/gone")
    objects = local_hub.root / "objects"
    dropped_path = objects / hashlib.sha256(dropped).hexdigest()[:2] / hashlib.sha256(dropped).hexdigest()
    assert dropped_path.is_file()
    env = dict(os.environ, HF_HUB_OFFLINE="1")

    def gc(grace: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "flock_subnet.cli", "hub", "gc", "--root", str(local_hub.root),
                               "--grace", grace, "--json"], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert gc("3600")["removed"] == 0  # too young: its commit could still be on its way
    collected = gc("0")
    assert (collected["removed"], collected["bytes"]) == (1, len(dropped)) and collected["kept"] >= 1
    assert not dropped_path.exists()
    kept_path = objects / hashlib.sha256(kept).hexdigest()[:2] / hashlib.sha256(kept).hexdigest()
    assert kept_path.read_bytes() == kept


def _connect(url: str) -> socket.socket:
    parsed = urlparse(url)
    return socket.create_connection((parsed.hostname, parsed.port), timeout=10)


def test_connections_are_bounded_and_slow_headers_cut_off(tmp_path):
    with start_hub_server(tmp_path / "hub", tokens={"alice": "t"}, max_connections=2,
                          idle_timeout_s=1.0, header_timeout_s=1.0) as hub:
        held = [_connect(hub.url) for _ in range(2)]
        time.sleep(0.2)
        with _connect(hub.url) as third:
            assert third.recv(100).startswith(b"HTTP/1.1 503")
        drip = held[0]
        started = time.monotonic()
        try:
            drip.sendall(b"GET /api/whoami-v2 HTTP/1.1\r\n")
            while time.monotonic() - started < 5:
                drip.sendall(b"X: y\r\n")  # never ends its headers
                time.sleep(0.3)
            cut = False
        except OSError:
            cut = True
        assert cut and time.monotonic() - started < 4.0
        for sock in held:
            sock.close()
        time.sleep(0.3)
        assert httpx2.get(f"{hub.url}/api/whoami-v2", headers={"Authorization": "Bearer t"}).status_code == 200


def test_each_user_has_an_upload_quota(tmp_path):
    with start_hub_server(tmp_path / "hub", tokens={"alice": "ta", "bob": "tb"}, max_user_bytes=10_000) as hub:
        def batch(token: str, data: bytes) -> dict:
            return httpx2.post(
                f"{hub.url}/alice/q.git/info/lfs/objects/batch" if token == "ta" else f"{hub.url}/bob/q.git/info/lfs/objects/batch",
                headers={"Authorization": f"Bearer {token}"},
                json={"operation": "upload", "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}]},
            ).json()["objects"][0]

        for token in ("ta", "tb"):
            httpx2.post(f"{hub.url}/api/repos/create", headers={"Authorization": f"Bearer {token}"}, json={"name": "q"})
        first = os.urandom(8_000)
        href = batch("ta", first)["actions"]["upload"]["href"]
        assert httpx2.put(href, content=first).status_code == 200
        refused = batch("ta", os.urandom(4_000))
        assert refused["error"]["code"] == 422 and "quota" in refused["error"]["message"]
        assert "upload" in batch("tb", os.urandom(4_000))["actions"]  # bob's quota is his own
