"""The local hub speaks the Hub protocol: exercised with the real huggingface_hub client (and raw HTTP
where the client hides what is checked)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    constants,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from flock_subnet.kit.localhub.server import start_hub_server


@pytest.fixture
def online(monkeypatch):
    """hf_hub_download/snapshot_download check offline mode themselves; the local hub needs it off."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def api_for(local_hub, user: str | None) -> HfApi:
    import flock_subnet.hub.huggingface  # noqa: F401  (installs the client with timeouts)

    return HfApi(endpoint=local_hub.url, token=local_hub.token(user) if user else False)


def add(path: str, data: bytes) -> CommitOperationAdd:
    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)


def test_repo_lifecycle_refs_tags_branches(local_hub):
    api = api_for(local_hub, "alice")
    assert api.whoami()["name"] == "alice"
    url = api.create_repo("alice/life", private=True)
    assert url.repo_id == "alice/life"
    assert api.create_repo("alice/life", exist_ok=True).repo_id == "alice/life"
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_repo("alice/life")
    assert exists.value.response.status_code == 409

    c1 = api.create_commit("alice/life", [add("a.txt", b"one"), add("w.safetensors", b"\0" * 1000)], commit_message="c1").oid
    c2 = api.create_commit("alice/life", [add("a.txt", b"two"), CommitOperationDelete("w.safetensors")], commit_message="c2").oid
    api.create_tag("alice/life", tag="v1", revision=c1)
    api.create_branch("alice/life", branch="dev", revision=c1)
    c3 = api.create_commit("alice/life", [add("dev.txt", b"dev")], commit_message="on dev", revision="dev").oid

    refs = api.list_repo_refs("alice/life")
    assert {(b.name, b.target_commit) for b in refs.branches} == {("main", c2), ("dev", c3)}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", c1)]
    assert api.model_info("alice/life", revision="v1").sha == c1
    assert api.model_info("alice/life", revision="refs/heads/dev").sha == c3
    assert sorted(api.list_repo_files("alice/life", revision=c1)) == [".gitattributes", "a.txt", "w.safetensors"]
    assert sorted(api.list_repo_files("alice/life")) == [".gitattributes", "a.txt"]
    commits = api.list_repo_commits("alice/life")
    assert [c.commit_id for c in commits][:2] == [c2, c1] and commits[0].title == "c2" and commits[0].authors == ["alice"]
    with pytest.raises(RevisionNotFoundError):
        api.model_info("alice/life", revision="nope")
    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit("alice/life", [add("x.txt", b"x")], commit_message="stale", parent_commit=c1)
    assert stale.value.response.status_code == 412

    api.delete_repo("alice/life")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/life")
    api.delete_repo("alice/life", missing_ok=True)


def test_info_tree_and_paths_info_describe_files(local_hub):
    api = api_for(local_hub, "alice")
    api.create_repo("alice/tree")
    weights = bytes(range(256)) * 100
    sha = api.create_commit(
        "alice/tree",
        [add("config.json", b"{}"), add("model.safetensors", weights), add("sub/dir/deep.txt", b"deep"), add("sub/top.txt", b"top")],
        commit_message="files",
    ).oid
    info = api.model_info("alice/tree", revision=sha, files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings}
    assert siblings["model.safetensors"].lfs.sha256 == hashlib.sha256(weights).hexdigest()
    assert siblings["model.safetensors"].size == len(weights)
    assert siblings["config.json"].lfs is None and siblings["config.json"].size == 2
    assert siblings["config.json"].blob_id == hashlib.sha1(b"blob 2\0{}").hexdigest()

    top = {e.path: type(e).__name__ for e in api.list_repo_tree("alice/tree", revision=sha)}
    assert top == {".gitattributes": "RepoFile", "config.json": "RepoFile", "model.safetensors": "RepoFile", "sub": "RepoFolder"}
    sub = sorted(e.path for e in api.list_repo_tree("alice/tree", path_in_repo="sub", revision=sha))
    assert sub == ["sub/dir", "sub/top.txt"]
    everything = sorted(e.path for e in api.list_repo_tree("alice/tree", revision=sha, recursive=True))
    assert "sub/dir/deep.txt" in everything and "sub/dir" in everything
    found = api.get_paths_info("alice/tree", ["config.json", "sub", "missing.txt"], revision=sha)
    assert sorted(e.path for e in found) == ["config.json", "sub"]


def test_downloads_at_an_old_revision_and_ranges(local_hub, tmp_path, online):
    api = api_for(local_hub, "alice")
    api.create_repo("alice/dl", private=False)
    old = api.create_commit("alice/dl", [add("model.safetensors", b"A" * 5000), add("config.json", b'{"v": 1}')], commit_message="v1").oid
    api.create_commit("alice/dl", [add("model.safetensors", b"B" * 6000), add("config.json", b'{"v": 2}')], commit_message="v2")

    path = hf_hub_download("alice/dl", "model.safetensors", revision=old, endpoint=local_hub.url, cache_dir=tmp_path / "c1", token=False)
    assert Path(path).read_bytes() == b"A" * 5000 and old in path
    snap = snapshot_download("alice/dl", revision=old, endpoint=local_hub.url, cache_dir=tmp_path / "c2", token=False)
    assert (Path(snap) / "config.json").read_bytes() == b'{"v": 1}'
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("alice/dl", "absent.bin", revision=old, endpoint=local_hub.url, cache_dir=tmp_path / "c3", token=False)

    url = f"{local_hub.url}/alice/dl/resolve/{old}/model.safetensors"
    head = httpx2.head(url)
    assert head.status_code == 200 and head.headers["X-Repo-Commit"] == old
    assert head.headers["ETag"] == f'"{hashlib.sha256(b"A" * 5000).hexdigest()}"'
    assert head.headers["Content-Length"] == "5000" and head.headers.get("Accept-Ranges") == "bytes"
    part = httpx2.get(url, headers={"Range": "bytes=4990-"})
    assert part.status_code == 206 and part.content == b"A" * 10
    assert part.headers["Content-Range"] == "bytes 4990-4999/5000"
    missing = httpx2.get(f"{local_hub.url}/alice/dl/resolve/main/nope.txt")
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound" and missing.headers["X-Repo-Commit"]
    ref_url = f"{local_hub.url}/alice/dl/resolve/refs%2Fheads%2Fmain/config.json"
    assert httpx2.get(ref_url).content == b'{"v": 2}'


def test_auth_rules(local_hub):
    alice, bob, anonymous = api_for(local_hub, "alice"), api_for(local_hub, "bob"), api_for(local_hub, None)
    alice.create_repo("alice/priv", private=True)
    with pytest.raises(RepositoryNotFoundError):
        bob.model_info("alice/priv")
    anon = httpx2.get(f"{local_hub.url}/api/models/alice/priv")
    assert anon.status_code == 401 and anon.headers["X-Error-Code"] == "RepoNotFound"
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info("alice/priv")
    bad = HfApi(endpoint=local_hub.url, token="hf_not_a_real_token")
    with pytest.raises(HfHubHTTPError) as invalid:
        bad.whoami()
    assert invalid.value.response.status_code == 401
    assert invalid.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    alice.create_repo("alice/pub", private=False)
    with pytest.raises(HfHubHTTPError) as forbidden:
        bob.create_commit("alice/pub", [add("x.txt", b"x")], commit_message="nope")
    assert forbidden.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as other_ns:
        bob.create_repo("alice/new")
    assert other_ns.value.response.status_code == 403
    assert anonymous.model_info("alice/pub").id == "alice/pub"
    alice.update_repo_settings("alice/priv", private=False)
    assert bob.model_info("alice/priv").private is False


def test_state_persists_across_restarts(tmp_path):
    root = tmp_path / "hub"
    with start_hub_server(root, tokens={"alice": "tok-a"}) as hub:
        api = HfApi(endpoint=hub.url, token="tok-a")
        api.create_repo("alice/keep")
        sha = api.create_commit("alice/keep", [add("w.safetensors", b"w" * 100)], commit_message="keep").oid
    with start_hub_server(root) as hub:  # no tokens given: the users are remembered
        api = HfApi(endpoint=hub.url, token="tok-a")
        assert api.model_info("alice/keep", revision=sha, files_metadata=True).siblings[1].lfs.size == 100
        assert api.whoami()["name"] == "alice"


def test_content_is_stored_once_and_commits_are_serialised(local_hub):
    api = api_for(local_hub, "alice")
    blob = b"shared weights" * 1000
    for name in ("alice/one", "alice/two"):
        api.create_repo(name)
        api.create_commit(name, [add("model.safetensors", blob)], commit_message="w")
    stored = [p for p in (local_hub.root / "objects").rglob("*") if p.is_file() and p.name == hashlib.sha256(blob).hexdigest()]
    assert len(stored) == 1

    errors: list[BaseException] = []

    def upload(i: int) -> None:
        try:
            api.upload_file(path_or_fileobj=f"file {i}".encode(), path_in_repo=f"f{i}.txt", repo_id="alice/one")
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {f"f{i}.txt" for i in range(8)} <= set(api.list_repo_files("alice/one"))
    assert len(api.list_repo_commits("alice/one")) == 10


def test_raw_protocol_refusals(local_hub):
    token = {"Authorization": f"Bearer {local_hub.token('alice')}"}
    api = api_for(local_hub, "alice")
    api.create_repo("alice/raw")
    commit_url = f"{local_hub.url}/api/models/alice/raw/commit/main"
    header = json.dumps({"key": "header", "value": {"summary": "evil"}})

    def commit(line: dict) -> httpx2.Response:
        body = header + "\n" + json.dumps(line) + "\n"
        return httpx2.post(commit_url, content=body, headers={**token, "Content-Type": "application/x-ndjson"})

    escape = commit({"key": "file", "value": {"path": "../escape.txt", "content": base64.b64encode(b"x").decode(), "encoding": "base64"}})
    assert escape.status_code == 400
    missing = commit({"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "a" * 64, "size": 10}})
    assert missing.status_code == 422
    forged = httpx2.put(f"{local_hub.url}/lfs-upload/{'a' * 64}?size=10&expires=99999999999&sig=forged", content=b"0123456789")
    assert forged.status_code == 403
    oversized = httpx2.post(f"{local_hub.url}/api/models/alice/raw/preupload/main", headers=token, content=b"{" + b" " * (9 * 1024 * 1024) + b"}")
    assert oversized.status_code == 413
    assert len(api.list_repo_commits("alice/raw")) == 1  # nothing landed


def test_lfs_object_must_match_its_oid(local_hub):
    token = {"Authorization": f"Bearer {local_hub.token('alice')}"}
    api_for(local_hub, "alice").create_repo("alice/lfs")
    data = b"real bytes" * 10
    oid = hashlib.sha256(data).hexdigest()
    batch = httpx2.post(
        f"{local_hub.url}/alice/lfs.git/info/lfs/objects/batch",
        headers={**token, "Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"},
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}], "hash_algo": "sha256"},
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    assert httpx2.put(href, content=b"fake bytes" * 10).status_code == 400
    assert httpx2.put(href, content=data).status_code == 200
    again = httpx2.post(
        f"{local_hub.url}/alice/lfs.git/info/lfs/objects/batch", headers=token,
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]},
    ).json()
    assert "actions" not in again["objects"][0]  # already stored: nothing to upload
