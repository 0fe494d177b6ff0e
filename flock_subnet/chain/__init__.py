"""The `Chain` port (`base.py`) and its bittensor adapter (`subtensor*.py`); the wallet helper (`wallets.py`)."""

from __future__ import annotations

from flock_subnet.chain.base import (
    Chain,
    ChainError,
    ChainErrorCode,
    ChainResult,
    ChainUnavailable,
    CommitmentRecord,
    Hyperparameters,
    Metagraph,
    NeuronInfo,
)

__all__ = [
    "Chain",
    "ChainError",
    "ChainErrorCode",
    "ChainResult",
    "ChainUnavailable",
    "CommitmentRecord",
    "Hyperparameters",
    "Metagraph",
    "NeuronInfo",
]

