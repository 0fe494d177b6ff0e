"""HuggingFaceHub (the ModelHub adapter) against the local hub, over loopback, with the real client."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from flock_subnet.errors import Fault
from flock_subnet.hub.base import (
    HubUnavailable,
    IntegrityError,
    RateLimited,
    RepoNotFound,
    RevisionNotFound,
    TooLarge,
    Unauthorized,
)


def make_checkpoint(folder: Path, seed: int, weights_bytes: int = 50_000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "seed": seed}))
    (folder / "tokenizer.json").write_text(json.dumps({"version": "1.0", "seed": seed}))
    (folder / "model.safetensors").write_bytes(hashlib.sha256(str(seed).encode()).digest() * (weights_bytes // 32))
    return folder


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_upload_returns_sha_and_files_list_sizes_and_sha256(local_hub, tmp_path):
    alice = local_hub.client("alice")
    ckpt = make_checkpoint(tmp_path / "v1", seed=1)
    sha = alice.upload(ckpt, "alice/tiny")
    assert len(sha) == 40 and int(sha, 16) >= 0
    files = {f.name: f for f in alice.files("alice/tiny", sha)}
    assert set(files) == {".gitattributes", "config.json", "tokenizer.json", "model.safetensors"}
    weights = (ckpt / "model.safetensors").read_bytes()
    assert files["model.safetensors"].size == len(weights)
    assert files["model.safetensors"].sha256 == hashlib.sha256(weights).hexdigest()
    assert files["config.json"].size == (ckpt / "config.json").stat().st_size
    assert alice.resolve("alice/tiny", "main") == sha
    # the same folder again makes no new commit
    assert alice.upload(ckpt, "alice/tiny") == sha


def test_old_revision_stays_downloadable_after_new_commit(local_hub, tmp_path):
    alice = local_hub.client("alice")
    v1 = make_checkpoint(tmp_path / "v1", seed=1)
    v2 = make_checkpoint(tmp_path / "v2", seed=2)
    sha1 = alice.upload(v1, "alice/tiny")
    sha2 = alice.upload(v2, "alice/tiny", message="v2")
    assert sha1 != sha2 and alice.resolve("alice/tiny", "main") == sha2

    got1 = alice.download("alice/tiny", sha1, tmp_path / "got1", allow_patterns=["*.json", "*.safetensors"])
    got2 = alice.download("alice/tiny", sha2, tmp_path / "got2", allow_patterns=["*.json", "*.safetensors"])
    assert tree_bytes(got1) == tree_bytes(v1)
    assert tree_bytes(got2) == tree_bytes(v2)
    assert [c.commit_id for c in alice.api.list_repo_commits("alice/tiny")][:2] == [sha2, sha1]


def test_private_repo_visible_to_owner_only_until_made_public(local_hub, tmp_path):
    alice, bob, anonymous = local_hub.client("alice"), local_hub.client("bob"), local_hub.client(None)
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=1), "alice/secret")  # private by default
    assert alice.files("alice/secret", sha)
    for outsider in (bob, anonymous):
        with pytest.raises(RepoNotFound) as info:
            outsider.files("alice/secret", sha)
        assert info.value.fault is Fault.MINER
        with pytest.raises(RepoNotFound):
            outsider.download("alice/secret", sha, tmp_path / "nope")
    assert not (tmp_path / "nope").exists() or not any((tmp_path / "nope").iterdir())

    alice.set_private("alice/secret", False)
    assert {f.name for f in bob.files("alice/secret", sha)} >= {"model.safetensors"}
    assert (anonymous.download("alice/secret", sha, tmp_path / "anon") / "model.safetensors").is_file()
    assert alice.api.model_info("alice/secret").private is False


def test_writes_to_another_users_repo_are_refused(local_hub, tmp_path):
    alice, mallory = local_hub.client("alice"), local_hub.client("mallory")
    ckpt = make_checkpoint(tmp_path / "v1", seed=1)
    sha = alice.upload(ckpt, "alice/public", private=False)
    evil = make_checkpoint(tmp_path / "evil", seed=666)
    with pytest.raises(Unauthorized) as info:
        mallory.upload(evil, "alice/public")
    assert info.value.fault is Fault.MINER
    with pytest.raises(Unauthorized):
        mallory.set_private("alice/public", True)
    with pytest.raises(Unauthorized):
        mallory.upload(evil, "alice/brand-new")  # a repo in someone else's namespace
    with pytest.raises((Unauthorized, RepoNotFound)):
        local_hub.client(None).upload(evil, "alice/public")
    assert alice.resolve("alice/public", "main") == sha
    assert mallory.upload(evil, "mallory/own")  # her own namespace is fine


def test_max_bytes_refused_before_anything_is_written(local_hub, tmp_path):
    alice = local_hub.client("alice")
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=1, weights_bytes=200_000), "alice/big")
    total = sum(f.size for f in alice.files("alice/big", sha))
    dest = tmp_path / "dest"
    with pytest.raises(TooLarge) as info:
        alice.download("alice/big", sha, dest, max_bytes=total - 1)
    assert info.value.fault is Fault.MINER
    assert not dest.exists()
    # the budget counts only the files that would be downloaded
    only_config = alice.download("alice/big", sha, dest, allow_patterns=["config.json"], max_bytes=1000)
    assert sorted(p.name for p in only_config.iterdir()) == ["config.json"]


def test_unknown_repo_and_revision_are_miner_faults(local_hub, tmp_path):
    alice = local_hub.client("alice")
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=1), "alice/tiny")
    with pytest.raises(RepoNotFound):
        alice.files("alice/absent", "main")
    with pytest.raises(RevisionNotFound) as info:
        alice.files("alice/tiny", "0" * 40)
    assert info.value.fault is Fault.MINER
    with pytest.raises(RevisionNotFound):
        alice.download("alice/tiny", "f" * 40, tmp_path / "x")
    alice.delete_repo("alice/tiny")
    with pytest.raises(RepoNotFound):
        alice.files("alice/tiny", sha)


@pytest.mark.parametrize("status", [410, 451])
def test_a_repo_the_hub_no_longer_serves_is_the_miners_fault(local_hub, tmp_path, status):
    alice = local_hub.client("alice")
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=1), "alice/tiny")
    local_hub.fail_next(status, path_contains="/resolve/")
    with pytest.raises(RepoNotFound) as gone:
        alice.download("alice/tiny", sha, tmp_path / "dl")
    assert gone.value.fault is Fault.MINER and f"HTTP {status}" in str(gone.value)


def test_hub_failures_are_on_the_validators_side(local_hub, tmp_path):
    alice = local_hub.client("alice")
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=1), "alice/tiny")
    local_hub.fail_next(429, retry_after=7)
    with pytest.raises(RateLimited) as limited:
        alice.files("alice/tiny", sha)
    assert limited.value.retry_after == 7 and limited.value.fault is Fault.VALIDATOR
    assert "hub" in str(limited.value)
    local_hub.fail_next(503)
    with pytest.raises(HubUnavailable) as unavailable:
        alice.files("alice/tiny", sha)
    assert unavailable.value.fault is Fault.VALIDATOR and "hub" in str(unavailable.value)
    local_hub.fail_next(500, path_contains="/resolve/")
    with pytest.raises(HubUnavailable):
        alice.download("alice/tiny", sha, tmp_path / "dl")
    assert not any((tmp_path / "dl").rglob("*.safetensors"))
    assert alice.files("alice/tiny", sha)  # recovered

    dead = local_hub.client("alice")
    local_hub.server.stop()
    with pytest.raises(HubUnavailable):
        dead.files("alice/tiny", sha)


def test_download_refuses_bytes_that_differ_from_the_listing(local_hub, tmp_path):
    alice = local_hub.client("alice")
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=1), "alice/tiny")
    weights = {f.name: f for f in alice.files("alice/tiny", sha)}["model.safetensors"]
    stored = local_hub.root / "objects" / weights.sha256[:2] / weights.sha256
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF  # the hub's disk now holds other bytes than it lists
    os.chmod(stored, 0o644)
    stored.write_bytes(bytes(data))
    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError) as info:
        alice.download("alice/tiny", sha, dest)
    assert info.value.fault is Fault.VALIDATOR and "the hub listed" in str(info.value)
    assert not any(p.is_file() for p in dest.rglob("*"))


def test_dataset_repo_round_trip(local_hub, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"task": "reverse", "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(50)]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "pool.parquet").write_bytes(os.urandom(4096))
    datasets = local_hub.client("bob", repo_type="dataset")
    sha = datasets.upload(data, "bob/pool")
    assert local_hub.client("bob").api.dataset_info("bob/pool", revision=sha).private is True
    with pytest.raises(RepoNotFound):
        local_hub.client("alice", repo_type="dataset").files("bob/pool", sha)
    with pytest.raises(RepoNotFound):  # a dataset is not a model repo
        local_hub.client("bob").files("bob/pool", sha)
    got = datasets.download("bob/pool", sha, tmp_path / "got", allow_patterns=["*.jsonl", "*.parquet"])
    assert tree_bytes(got) == tree_bytes(data)
    datasets.delete_repo("bob/pool")
    with pytest.raises(RepoNotFound):
        datasets.files("bob/pool", sha)


def test_a_token_the_hub_rejects_is_not_blamed_on_a_miner(local_hub, tmp_path):
    from flock_subnet.hub.huggingface import HuggingFaceHub

    local_hub.client("alice").upload(make_checkpoint(tmp_path / "v1", seed=1), "alice/pub", private=False)
    with pytest.raises(Unauthorized) as info:
        HuggingFaceHub(local_hub.url, "hf_wrong").files("alice/pub", "main")
    assert info.value.fault is Fault.VALIDATOR and "token" in str(info.value)


def test_every_request_has_a_timeout(monkeypatch):
    import socket

    from huggingface_hub.utils import get_session

    import flock_subnet.hub.huggingface as adapter

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        with pytest.raises(HubUnavailable) as info:
            adapter.HuggingFaceHub(url, "t", timeout_s=0.3).files("alice/tiny", "main")
        assert "Timeout" in str(info.value)
        # calls that pass timeout=None explicitly get the defaults instead of waiting forever
        monkeypatch.setattr(adapter, "DEFAULT_TIMEOUT_S", 0.3)
        import httpx2

        with pytest.raises(httpx2.TimeoutException):
            get_session().get(f"{url}/api/models/alice/tiny", timeout=None)
    finally:
        silent.close()


def test_offline_mode_still_blocks_remote_hubs_but_not_loopback(local_hub, monkeypatch, tmp_path):
    from huggingface_hub import constants

    from flock_subnet.hub.huggingface import HuggingFaceHub

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnavailable) as info:
        HuggingFaceHub("http://192.0.2.1:9", None).files("alice/tiny", "main")  # never contacted
    assert "offline" in str(info.value)
    sha = local_hub.client("alice").upload(make_checkpoint(tmp_path / "v1", seed=1), "alice/tiny")
    assert local_hub.client("alice").resolve("alice/tiny", "main") == sha
