"""Downloads have deadlines: a trickling body ends within a bound scaled by the file's listed size,
as the hub's fault (the miner is not blamed), and the next try succeeds."""

from __future__ import annotations

import time

import pytest

from flock_subnet.errors import Fault
from flock_subnet.hub.base import HubUnavailable
from tests.hub.test_adapter import make_checkpoint


def test_a_trickling_download_ends_at_its_deadline(local_hub, tmp_path):
    alice = local_hub.client("alice")
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=1, weights_bytes=200_000), "alice/slow")
    slow = local_hub.client("alice", min_bytes_per_s=100_000, min_deadline_s=0.5)
    size = {f.name: f.size for f in slow.files("alice/slow", sha)}["model.safetensors"]
    assert slow.deadline_s(size) == pytest.approx(size / 100_000)
    local_hub.server.trickle_next(20_000, path_contains="model.safetensors")  # 10 s for the whole file
    started = time.monotonic()
    with pytest.raises(HubUnavailable) as info:
        slow.download("alice/slow", sha, tmp_path / "dest")
    elapsed = time.monotonic() - started
    assert info.value.fault is Fault.VALIDATOR and "too slow" in str(info.value)
    assert elapsed < slow.deadline_s(size) + 1.5
    assert not (tmp_path / "dest" / "model.safetensors").exists()
    assert slow.download("alice/slow", sha, tmp_path / "dest") == tmp_path / "dest"  # the hub recovered


def test_deadline_has_a_floor_for_small_files(local_hub):
    hub = local_hub.client("alice", min_bytes_per_s=1_000_000, min_deadline_s=60)
    assert hub.deadline_s(10) == 60 and hub.deadline_s(600_000_000) == 600


def test_a_truncated_body_is_the_hubs_fault_and_leaves_nothing_behind(local_hub, tmp_path):
    alice = local_hub.client("alice")
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=2, weights_bytes=100_000), "alice/cut")
    local_hub.server.truncate_next(path_contains="model.safetensors")
    with pytest.raises(HubUnavailable) as info:
        alice.download("alice/cut", sha, tmp_path / "dest")
    assert info.value.fault is Fault.VALIDATOR
    assert not any(p.is_file() for p in (tmp_path / "dest").rglob("*"))
    assert (alice.download("alice/cut", sha, tmp_path / "dest") / "model.safetensors").is_file()


def test_a_reset_connection_is_the_hubs_fault_and_leaves_nothing_behind(local_hub, tmp_path):
    alice = local_hub.client("alice")
    sha = alice.upload(make_checkpoint(tmp_path / "v1", seed=3, weights_bytes=100_000), "alice/reset")
    local_hub.server.reset_next(times=5, path_contains="model.safetensors")  # every retry of the client too
    with pytest.raises(HubUnavailable) as info:
        alice.download("alice/reset", sha, tmp_path / "dest")
    assert info.value.fault is Fault.VALIDATOR
    assert not any(p.is_file() for p in (tmp_path / "dest").rglob("*"))
    local_hub.server.clear_faults()
    assert (alice.download("alice/reset", sha, tmp_path / "dest") / "model.safetensors").is_file()
