"""Admission before downloading: the hub's file listing alone refuses pickles, code, odd names
and oversized checkpoints, so nothing hostile is ever fetched."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flock_subnet.evaluation.admission import DOWNLOAD_PATTERNS, check_remote_files
from flock_subnet.hub.base import RemoteFile
from flock_subnet.rules.competitions import LOCAL, QWEN_05B


def _remote(name: str, size: int = 100) -> RemoteFile:
    return RemoteFile(name=name, size=size, sha256=None)


GOOD_LISTING = [
    _remote("config.json"),
    _remote("model.safetensors", 4_000_000),
    _remote("tokenizer.json", 300_000),
    _remote(".gitattributes"),
    _remote("README.md"),
]


def test_remote_listing_of_a_good_checkpoint_passes():
    assert check_remote_files(GOOD_LISTING, LOCAL) == []
    assert "*.safetensors" in DOWNLOAD_PATTERNS and "config.json" in DOWNLOAD_PATTERNS
    assert not any(p in DOWNLOAD_PATTERNS for p in ("README.md", ".gitattributes", "*.bin"))


@pytest.mark.parametrize(
    "extra,message",
    [
        (_remote("pytorch_model.bin"), "pytorch_model.bin is not allowed: pickled"),
        (_remote("modeling_x.py"), "code files are never run"),
        (_remote("weights/model.safetensors"), "path separator"),
        (_remote("..config.json"), "path separator or '..'"),
        (_remote("notes.txt"), "only safetensors weights"),
        (_remote("model-2.safetensors", 200 * 1024 * 1024), "model files total"),
    ],
)
def test_remote_listing_refusals(extra, message):
    reasons = check_remote_files(GOOD_LISTING + [extra], LOCAL)
    assert any(message in r for r in reasons), reasons


def test_remote_listing_needs_weights_and_config_and_caps_weight_bytes():
    reasons = check_remote_files([_remote("tokenizer.json")], LOCAL)
    assert any("no .safetensors" in r for r in reasons) and any("no config.json" in r for r in reasons)
    roomy = replace(LOCAL, max_bytes=10**12)
    too_heavy = [_remote("config.json"), _remote("model.safetensors", LOCAL.max_parameters * 4 + 10 * 1024 * 1024)]
    assert any("float32 parameters" in r for r in check_remote_files(too_heavy, roomy))
    assert check_remote_files([_remote("config.json"), _remote("model.safetensors", LOCAL.max_parameters * 4)], roomy) == []
    assert "more than 256" in check_remote_files([_remote(f"f{i}.json") for i in range(300)], LOCAL)[0]


def test_production_competition_limits_apply_to_listings():
    listing = [_remote("config.json"), _remote("model.safetensors", 988_097_824)]
    assert check_remote_files(listing, QWEN_05B) == []
    listing = [_remote("config.json"), _remote("model.safetensors", 3 * 1024**3)]
    assert len(check_remote_files(listing, QWEN_05B)) == 2
