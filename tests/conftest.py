"""Shared test setup: no network, no real W&B, no real home folder."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# Shared fixtures live in tests/fixtures/<area>.py (local hub, local chain, tiny models, ...).
pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}" for path in (Path(__file__).parent / "fixtures").glob("*.py") if path.stem != "__init__"
)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep bittensor and huggingface caches out of the real home folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(home / "btcli_token_symbols.json"))
    saved = dict(os.environ)
    yield
    # A command run in-process may export settings for its subprocesses (as the CLI does for its
    # evaluation workers); they must not reach the next test.
    os.environ.clear()
    os.environ.update(saved)
