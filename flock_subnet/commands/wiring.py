"""The composition root: settings in, adapters out (the local chain or a subtensor node)."""

from __future__ import annotations

from flock_subnet.chain.base import Chain
from flock_subnet.config import ChainSettings


def open_chain(settings: ChainSettings) -> Chain:
    """The local chain for `file://` endpoints and the `embedded` network, else a subtensor node."""
    if settings.is_local_chain:
        from flock_subnet.kit.localchain.chain import LocalChain

        return LocalChain.open(settings.local_chain_file)
    from flock_subnet.chain.subtensor import SubtensorChain

    return SubtensorChain(network=settings.network, endpoint=settings.chain_endpoint)
