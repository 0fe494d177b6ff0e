"""One call from sources to a `Board`: read the chain and the validator's state, then assemble."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flock_subnet.chain.base import Chain, CommitmentRecord
from flock_subnet.leaderboard.assemble import assemble
from flock_subnet.leaderboard.model import Board
from flock_subnet.leaderboard.sources import DEFAULT_MAX_ROUNDS, ChainExtras, read_chain, read_state


@dataclass(frozen=True)
class BoardSource:
    """Where a board comes from: a chain, a subnet, optionally a validator's state, and the hub for links.

    `extras` may be a function of the chain (the local chain reports takes and own stakes; a
    subtensor node through the port does not).
    """

    chain: Chain
    netuid: int
    hub_url: str
    chain_label: str
    state_location: str | Path | None = None
    extras: ChainExtras | Callable[[Chain], ChainExtras] = field(default_factory=ChainExtras)
    max_rounds: int = DEFAULT_MAX_ROUNDS

    def gather(self, seen: Mapping[str, Sequence[CommitmentRecord]] | None = None) -> Board:
        """Read everything now (chain errors propagate; state problems become a note on the board)."""
        view = read_chain(self.chain, self.netuid, self.chain_label)
        extras = self.extras(self.chain) if callable(self.extras) else self.extras
        state = read_state(self.state_location, max_rounds=self.max_rounds)
        return assemble(view, state, extras, self.hub_url, time.time(), seen)
