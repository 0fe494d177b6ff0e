"""Where a miner stands: its decoded commitment, the validators' weights on it, its incentive."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from flock_subnet.chain.base import Chain
from flock_subnet.rules import protocol


@dataclass
class ValidatorView:
    """How one validator currently weights this miner."""

    uid: int
    hotkey: str
    stake: int
    weight: float  # this miner's weight as stored on chain, in [0, 1]
    share: float  # this miner's share of the validator's total weight


@dataclass
class MinerStatus:
    """What this hotkey has committed and what the chain currently pays it."""

    hotkey: str
    netuid: int
    block: int
    uid: int | None
    commitment: str | None = None
    commit_block: int | None = None
    reference: dict[str, Any] | None = None
    commitment_error: str | None = None
    incentive: float = 0.0
    emission: int = 0
    stake: int = 0
    validators: list[ValidatorView] = field(default_factory=list)

    @property
    def registered(self) -> bool:
        return self.uid is not None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["registered"] = self.registered
        return data


def miner_status(chain: Chain, netuid: int, hotkey: str) -> MinerStatus:
    """This hotkey's commitment (decoded), validators' weights on it, its incentive and emission."""
    metagraph = chain.metagraph(netuid)
    neuron = metagraph.by_hotkey(hotkey)
    status = MinerStatus(hotkey=hotkey, netuid=netuid, block=metagraph.block, uid=None if neuron is None else neuron.uid)
    record = chain.commitments(netuid).get(hotkey)
    if record is not None:
        status.commitment, status.commit_block = record.data, record.block
        try:
            ref = protocol.decode(record.data)
            status.reference = dataclasses.asdict(ref)
        except protocol.ProtocolError as exc:
            status.commitment_error = str(exc)
    if neuron is None:
        return status
    status.incentive, status.emission, status.stake = neuron.incentive, neuron.emission, neuron.stake
    for vuid, row in sorted(chain.weights(netuid).items()):
        validator = metagraph.neuron(vuid)
        if validator is None:
            continue
        total = sum(row.values())
        mine = row.get(neuron.uid, 0.0)
        status.validators.append(
            ValidatorView(vuid, validator.hotkey, validator.stake, mine, mine / total if total > 0 else 0.0)
        )
    return status
