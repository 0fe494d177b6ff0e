"""The fake subtensor's state: subnets, neurons, default hyperparameters and dispatch refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

U16_MAX = 65_535
RAO = 1_000_000_000

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "tempo": 360,
    "weights_rate_limit": 100,
    "commit_reveal_weights_enabled": True,
    "commit_reveal_period": 1,
    "weights_version": 0,
    "max_weights_limit": U16_MAX,
    "min_allowed_weights": 1,
    "immunity_period": 5000,
    "max_allowed_uids": 256,
    "max_validators": 64,
    "activity_cutoff": 5000,
    "activity_cutoff_factor_milli": 13_889,
    "min_burn": RAO // 2,
    "serving_rate_limit": 50,
    "registration_allowed": True,
}
_HYPER_TAGS = {bool: "bool"}
# Settings a node keeps in storage but leaves out of `get_subnet_hyperparams_v3`.
STORAGE_ONLY = frozenset({"max_allowed_uids", "activity_cutoff_factor_milli"})


@dataclass
class FakeNeuron:
    uid: int
    hotkey: str
    coldkey: str
    registered_at: int
    stake: int = 0  # alpha rao
    incentive: int = 0  # u16
    dividends: int = 0
    consensus: int = 0
    emission: int = 0  # rao
    axon: dict | None = None


@dataclass
class FakeSubnet:
    netuid: int
    owner_hotkey: str
    owner_coldkey: str
    registered_at: int
    hyper: dict[str, Any]
    neurons: list[FakeNeuron] = field(default_factory=list)
    weights: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    last_update: list[int] = field(default_factory=list)
    commitments: dict[str, dict] = field(default_factory=dict)
    used_space: dict[str, tuple[int, int]] = field(default_factory=dict)
    timelocked: list[dict] = field(default_factory=list)
    last_epoch_block: int = 0
    epoch_index: int = 0

    def uid_of(self, hotkey: str) -> int | None:
        for neuron in self.neurons:
            if neuron.hotkey == hotkey:
                return neuron.uid
        return None

    def permits(self) -> list[bool]:
        """Top `max_validators` neurons by stake (non-zero stake only) hold a permit."""
        ranked = sorted((n for n in self.neurons if n.stake > 0), key=lambda n: (-n.stake, n.uid))
        chosen = {n.uid for n in ranked[: int(self.hyper["max_validators"])]}
        return [n.uid in chosen for n in self.neurons]


class _Refusal(Exception):
    """A dispatch error: the extrinsic was included but failed with this chain error name."""

    def __init__(self, name: str, message: str = "") -> None:
        super().__init__(message or name)
        self.name = name
        self.message = message or name


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value[2:]) if value.startswith("0x") else value.encode("utf-8")
    if isinstance(value, (list, tuple)):
        return bytes(int(b) for b in value)
    raise ValueError(f"cannot encode {type(value).__name__} as bytes")
