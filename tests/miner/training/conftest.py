"""Shared training runs for this folder: small, fast, real (micro tiny model, public generator)."""

from __future__ import annotations

from pathlib import Path

import pytest

FAST = dict(num_samples=192, batch_tokens=1024, lr=3e-3, warmup_steps=3, progress_bar=False, device="cpu")


@pytest.fixture(scope="session")
def full_run(tmp_path_factory, tiny_model_dir, model_cache_dir):
    """A 12-step full fine-tune of the micro model, with checkpoints every 5 steps."""
    from flock_subnet.miner.training import TrainConfig, train

    config = TrainConfig(
        output_dir=tmp_path_factory.mktemp("full") / "run",
        init_model_dir=tiny_model_dir,
        cache_dir=model_cache_dir,
        max_steps=12,
        save_every=5,
        **FAST,
    )
    return config, train(config)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"
