"""Content hashing: deterministic, limited to model files, bound to the hotkey by the salt."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from flock_subnet.models.checkpoint import (
    CheckpointError,
    content_hash,
    is_model_file,
    model_files,
    salted_hash,
)


def _write_checkpoint(folder, weights=b"\x00" * 64, config=b'{"model_type": "llama"}'):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "config.json").write_bytes(config)
    (folder / "tokenizer.json").write_bytes(b'{"version": "1.0"}')
    return folder


def test_hash_is_deterministic_and_ignores_hub_files_and_order(tmp_path):
    a = _write_checkpoint(tmp_path / "a")
    b = tmp_path / "b"
    b.mkdir()
    # written in another order, with the files a hub adds
    for name in ("tokenizer.json", "config.json", "model.safetensors"):
        shutil.copy(a / name, b / name)
    (b / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    (b / "README.md").write_text("# my model\n")
    assert content_hash(a) == content_hash(b)
    assert len(content_hash(a)) == 64


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "tokenizer.json"])
def test_any_byte_of_a_model_file_changes_the_hash(tmp_path, name):
    a = _write_checkpoint(tmp_path / "a")
    before = content_hash(a)
    path = a / name
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert content_hash(a) != before


def test_renaming_a_file_changes_the_hash(tmp_path):
    a = _write_checkpoint(tmp_path / "a")
    before = content_hash(a)
    os.rename(a / "model.safetensors", a / "model-00001-of-00001.safetensors")
    assert content_hash(a) != before


def test_model_file_rules():
    assert is_model_file("model.safetensors")
    assert is_model_file("model-00001-of-00002.safetensors")
    assert is_model_file("tokenizer_config.json")
    assert not is_model_file("pytorch_model.bin")
    assert not is_model_file("modeling_llama.py")
    assert not is_model_file("sub/model.safetensors")
    assert not is_model_file("README.md")


def test_folder_without_weights_or_with_symlink_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no .safetensors"):
        content_hash(empty)
    with pytest.raises(CheckpointError, match="not a folder"):
        content_hash(tmp_path / "missing")
    linked = _write_checkpoint(tmp_path / "linked")
    (linked / "model.safetensors").unlink()
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(b"x")
    (linked / "model.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="symbolic link"):
        model_files(linked)


def test_salted_hash_binds_content_to_hotkey():
    content = hashlib.sha256(b"weights").hexdigest()
    alice = salted_hash(content, "5Alice")
    assert alice == hashlib.sha256(bytes.fromhex(content) + b"5Alice").hexdigest()
    assert salted_hash(content, "5Bob") != alice
    with pytest.raises(CheckpointError):
        salted_hash("zz", "5Alice")
    with pytest.raises(CheckpointError, match="32 bytes"):
        salted_hash("ab" * 16, "5Alice")
