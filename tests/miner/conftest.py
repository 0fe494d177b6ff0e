"""Miner test helpers: checkpoints to submit and a registered miner on the local chain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures.chain import register_neuron


@pytest.fixture
def model_copy(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """A writable copy of the micro tiny model."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory) -> Path:
    """Another micro model (seed 1): different weights, same tokenizer."""
    from flock_subnet.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-micro-1") / "model", preset="micro", seed=1)


@pytest.fixture
def miner_wallet(local_chain, make_wallet):
    wallet = make_wallet("alice")
    register_neuron(local_chain, wallet)
    return wallet
