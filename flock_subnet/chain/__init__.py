"""Chain adapters behind one port (`base.Chain`); `open_chain` picks one from the settings."""

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
from flock_subnet.config import ChainSettings

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
    "open_chain",
]


def open_chain(settings: ChainSettings) -> Chain:
    """The local chain for `file://` endpoints and the `embedded` network, else a subtensor node."""
    if settings.is_local_chain:
        from flock_subnet.chain.local import LocalChain

        return LocalChain.open(settings.local_chain_file)
    from flock_subnet.chain.subtensor import SubtensorChain

    return SubtensorChain(network=settings.network, endpoint=settings.chain_endpoint)
