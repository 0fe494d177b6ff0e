"""`admit_reference` against the project's local hub server through the real `huggingface_hub` client."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flock_subnet.errors import Fault
from flock_subnet.evaluation.admission import admit_reference, load_reference_files
from flock_subnet.hub.base import HubError
from flock_subnet.models import checkpoint
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.rules.protocol import ModelReference
from tests.evaluation.adversarial.builders import copy_model, edit_config, marker_pickle

ALICE_HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
MALLORY_HOTKEY = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"


@pytest.fixture(scope="session")
def reference_files(model_cache_dir) -> dict[str, bytes]:
    return load_reference_files(LOCAL, model_cache_dir)


def _reference(repo_id: str, sha: str, folder, hotkey: str) -> ModelReference:
    salted = checkpoint.salted_hash(checkpoint.content_hash(folder), hotkey)
    return ModelReference(repo_id=repo_id, revision=sha, salted_hash=salted, competition_id="local")


def test_committed_model_is_downloaded_at_its_sha_and_admitted(local_hub, tiny_model_dir, reference_files, tmp_path):
    alice = local_hub.client("alice")
    model = copy_model(tiny_model_dir, tmp_path / "model")
    (model / "README.md").write_text("# alice's tiny model\n")
    first = alice.upload(model, "alice/tiny", private=False)
    first_hash = checkpoint.content_hash(model)
    reference = _reference("alice/tiny", first, model, ALICE_HOTKEY)

    # alice pushes a second revision to the same repo: the committed sha still names the first
    edit_config(model, rms_norm_eps=1e-5)
    alice.upload(model, "alice/tiny", private=False)

    validator = local_hub.client("bob")
    dest = tmp_path / "validator" / "uid-1"
    dest.mkdir(parents=True)
    (dest / "stale.bin").write_bytes(b"left over from an earlier round")
    report = admit_reference(validator, reference, ALICE_HOTKEY, dest, LOCAL, reference_files=reference_files)
    assert report.ok, report.reasons
    assert report.content_hash == first_hash
    assert report.parameters == 1_049_216
    downloaded = sorted(p.name for p in dest.iterdir())
    assert downloaded == sorted(p.name for p in tiny_model_dir.iterdir())  # no README, no .gitattributes, no stale file

    # the same model committed by a copier under another hotkey: the salted hash gives it away
    copied = ModelReference("alice/tiny", first, reference.salted_hash, "local")
    report = admit_reference(validator, copied, MALLORY_HOTKEY, tmp_path / "copy", LOCAL, reference_files=reference_files)
    assert not report.ok and any("salted hash does not match" in r for r in report.reasons)
    assert report.content_hash == first_hash


def test_pickles_in_the_repo_are_refused_before_downloading(local_hub, tiny_model_dir, reference_files, tmp_path):
    mallory = local_hub.client("mallory")
    model = copy_model(tiny_model_dir, tmp_path / "model")
    marker = tmp_path / "unpickled"
    (model / "pytorch_model.bin").write_bytes(marker_pickle(marker))
    sha = mallory.upload(model, "mallory/evil", private=False)
    reference = _reference("mallory/evil", sha, model, MALLORY_HOTKEY)
    dest = tmp_path / "dest"
    report = admit_reference(local_hub.client("bob"), reference, MALLORY_HOTKEY, dest, LOCAL, reference_files=reference_files)
    assert not report.ok
    assert any("pytorch_model.bin is not allowed" in r for r in report.reasons)
    assert not dest.exists()  # nothing was downloaded
    assert not marker.exists()


def test_oversized_repo_is_refused_from_its_listing(local_hub, tiny_model_dir, reference_files, tmp_path):
    sha = local_hub.client("alice").upload(tiny_model_dir, "alice/big", private=False)
    reference = _reference("alice/big", sha, tiny_model_dir, ALICE_HOTKEY)
    tight = replace(LOCAL, max_bytes=1_000_000)
    dest = tmp_path / "dest"
    report = admit_reference(local_hub.client("bob"), reference, ALICE_HOTKEY, dest, tight, reference_files=reference_files)
    assert not report.ok and any("more than competition 'local' allows (1000000)" in r for r in report.reasons)
    assert not dest.exists()


def test_miner_faults_on_the_hub_become_refusals(local_hub, tiny_model_dir, reference_files, tmp_path):
    alice = local_hub.client("alice")
    sha = alice.upload(tiny_model_dir, "alice/hidden", private=True)
    validator = local_hub.client("bob")

    private = _reference("alice/hidden", sha, tiny_model_dir, ALICE_HOTKEY)
    report = admit_reference(validator, private, ALICE_HOTKEY, tmp_path / "a", LOCAL, reference_files=reference_files)
    assert not report.ok and report.reasons[0].startswith("cannot list alice/hidden@")

    missing_repo = replace(private, repo_id="alice/never-made")
    report = admit_reference(validator, missing_repo, ALICE_HOTKEY, tmp_path / "b", LOCAL, reference_files=reference_files)
    assert not report.ok and "cannot list alice/never-made" in report.reasons[0]

    alice.set_private("alice/hidden", False)
    missing_revision = replace(private, revision="0" * 40)
    report = admit_reference(validator, missing_revision, ALICE_HOTKEY, tmp_path / "c", LOCAL, reference_files=reference_files)
    assert not report.ok and "no such revision" in report.reasons[0]

    other_competition = replace(private, competition_id="qwen05b")
    report = admit_reference(validator, other_competition, ALICE_HOTKEY, tmp_path / "d", LOCAL, reference_files=reference_files)
    assert not report.ok and "not 'local'" in report.reasons[0]

    assert admit_reference(validator, private, ALICE_HOTKEY, tmp_path / "e", LOCAL, reference_files=reference_files).ok


@pytest.mark.parametrize("status", [503, 429])
def test_hub_failures_raise_for_a_retry(local_hub, tiny_model_dir, reference_files, tmp_path, status):
    sha = local_hub.client("alice").upload(tiny_model_dir, "alice/tiny", private=False)
    reference = _reference("alice/tiny", sha, tiny_model_dir, ALICE_HOTKEY)
    validator = local_hub.client("bob")
    local_hub.fail_next(status, times=20, retry_after=1)
    with pytest.raises(HubError) as caught:
        admit_reference(validator, reference, ALICE_HOTKEY, tmp_path / "a", LOCAL, reference_files=reference_files)
    assert caught.value.fault is Fault.VALIDATOR and "hub" in str(caught.value)
    local_hub.server.clear_faults()

    # failing while downloading a file (after a good listing) is the hub's fault too
    local_hub.fail_next(status, times=20, retry_after=1, path_contains="model.safetensors")
    with pytest.raises(HubError) as caught:
        admit_reference(validator, reference, ALICE_HOTKEY, tmp_path / "b", LOCAL, reference_files=reference_files)
    assert caught.value.fault is Fault.VALIDATOR and "hub" in str(caught.value)
    local_hub.server.clear_faults()
    assert admit_reference(validator, reference, ALICE_HOTKEY, tmp_path / "b", LOCAL, reference_files=reference_files).ok


def test_dest_must_not_be_a_symlink(local_hub, tiny_model_dir, reference_files, tmp_path):
    from flock_subnet.evaluation.admission import AdmissionError

    sha = local_hub.client("alice").upload(tiny_model_dir, "alice/tiny", private=False)
    reference = _reference("alice/tiny", sha, tiny_model_dir, ALICE_HOTKEY)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    (tmp_path / "link").symlink_to(precious)
    with pytest.raises(AdmissionError, match="symbolic link"):
        admit_reference(local_hub.client("bob"), reference, ALICE_HOTKEY, tmp_path / "link", LOCAL, reference_files=reference_files)
    assert (precious / "keep.txt").exists()
