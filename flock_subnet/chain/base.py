"""The Chain port: what the subnet needs of subtensor, and nothing more.

Two adapters implement it: `chain.local.LocalChain` (the embedded default, a SQLite file) and
`chain.subtensor.SubtensorChain` (the real chain through the bittensor SDK). Miners and
validators only ever see this interface, so code that works on one works on the other.

Conventions:
- Amounts (stake, emission) are integers in rao (1 TAO / alpha = 10**9 rao).
- `incentive`, `dividends` are the chain's last-epoch proportions in [0, 1] (u16 / 65535).
- Reads raise `ChainUnavailable` when the chain cannot be reached (a validator fault: retry).
- Writes never raise for on-chain refusals: they return a `ChainResult` whose `error` is a
  `ChainErrorCode` named after the chain's own error, so callers can branch on it.
- `wallet` is a `Wallet`: a bittensor wallet, or anything with the same keys (see below).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from flock_subnet.errors import FlockError

RAO_PER_TAO = 1_000_000_000
U16_MAX = 65_535


class Keypair(Protocol):
    """A signing key: its ss58 address and a signature over bytes."""

    @property
    def ss58_address(self) -> str: ...

    def sign(self, data: bytes) -> bytes | str: ...


class PublicKey(Protocol):
    """The public half of a key: only its address."""

    @property
    def ss58_address(self) -> str: ...


class Wallet(Protocol):
    """What the subnet uses of a `bittensor.Wallet`: the hotkey signs, the coldkey owns.

    `coldkey` is only read by chain calls that move funds or configure a subnet (registration,
    staking, hyperparameters); neurons touch `hotkey` and `coldkeypub` alone.
    """

    @property
    def name(self) -> str: ...

    @property
    def hotkey(self) -> Keypair: ...

    @property
    def coldkeypub(self) -> PublicKey: ...

    @property
    def coldkey(self) -> Keypair: ...


class ChainErrorCode(str, enum.Enum):
    """Machine-readable reasons a write was refused; values are subtensor's error names."""

    NOT_REGISTERED = "HotKeyNotRegisteredInSubNet"
    SUBNET_NOT_FOUND = "SubnetNotExists"
    WEIGHTS_RATE_LIMITED = "SettingWeightsTooFast"
    COMMITTING_WEIGHTS_TOO_FAST = "CommittingWeightsTooFast"
    NO_VALIDATOR_PERMIT = "NeuronNoValidatorPermit"
    INCORRECT_WEIGHT_VERSION = "IncorrectWeightVersionKey"
    NOT_ENOUGH_STAKE_TO_SET_WEIGHTS = "NotEnoughStakeToSetWeights"
    INVALID_UIDS = "UidVecContainInvalidOne"
    DUPLICATE_UIDS = "DuplicateUids"
    WEIGHT_VEC_NOT_EQUAL_SIZE = "WeightVecNotEqualSize"
    WEIGHT_VEC_LENGTH_IS_LOW = "WeightVecLengthIsLow"
    INVALID_WEIGHTS = "InvalidWeights"  # NaN, negative, all zero: refused before reaching the chain
    INVALID_INPUT = "InvalidInput"  # an argument no call could carry (not UTF-8, out of range): refused locally
    COMMITMENT_RATE_LIMITED = "CommitmentSetRateLimitExceeded"
    COMMITMENT_SPACE_EXCEEDED = "SpaceLimitExceeded"
    COMMITMENT_TOO_LARGE = "CommitmentTooLarge"  # more than one Raw field's 128 bytes
    NOT_ALLOWED_TO_COMMIT = "AccountNotAllowedCommit"
    BAD_SIGNATURE = "BadSignature"
    ALREADY_REGISTERED = "HotKeyAlreadyRegisteredInSubNet"
    NOT_ENOUGH_BALANCE = "NotEnoughBalanceToStake"
    COMMIT_REVEAL_ENABLED = "CommitRevealEnabled"
    BAD_ORIGIN = "BadOrigin"  # e.g. a hyperparameter change not signed by the subnet owner
    NON_ASSOCIATED_COLDKEY = "NonAssociatedColdKey"  # the hotkey belongs to another coldkey
    NO_NEURON_ID_AVAILABLE = "NoNeuronIdAvailable"  # subnet full and every neuron still immune
    NOT_ENOUGH_STAKE_TO_WITHDRAW = "NotEnoughStakeToWithdraw"
    UNAVAILABLE = "ChainUnavailable"  # transport failure: a validator fault, retry
    WALLET_UNUSABLE = "WalletUnusable"  # the signing key could not be loaded or unlocked: fix the wallet
    OTHER = "Other"

    @property
    def is_rate_limit(self) -> bool:
        return self in {
            ChainErrorCode.WEIGHTS_RATE_LIMITED,
            ChainErrorCode.COMMITTING_WEIGHTS_TOO_FAST,
            ChainErrorCode.COMMITMENT_RATE_LIMITED,
            ChainErrorCode.COMMITMENT_SPACE_EXCEEDED,
        }

    @property
    def is_transient(self) -> bool:
        return self.is_rate_limit or self is ChainErrorCode.UNAVAILABLE


class ChainError(FlockError):
    """A chain call failed; `code` says why."""

    def __init__(self, code: ChainErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class ChainUnavailable(ChainError):
    """The chain could not be reached or did not answer in time (a validator fault: retry later)."""

    def __init__(self, message: str) -> None:
        super().__init__(ChainErrorCode.UNAVAILABLE, message)


@dataclass(frozen=True)
class ChainResult:
    """The outcome of a write. `ok` or an `error` code with a human message."""

    ok: bool
    error: ChainErrorCode | None = None
    message: str = ""
    block: int | None = None
    retry_after_blocks: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def success(cls, block: int | None = None, message: str = "", **data: Any) -> "ChainResult":
        return cls(ok=True, block=block, message=message, data=data)

    @classmethod
    def failure(
        cls, error: ChainErrorCode, message: str, retry_after_blocks: int | None = None, block: int | None = None
    ) -> "ChainResult":
        return cls(ok=False, error=error, message=message, retry_after_blocks=retry_after_blocks, block=block)

    def raise_for_error(self) -> "ChainResult":
        if not self.ok:
            raise ChainError(self.error or ChainErrorCode.OTHER, self.message)
        return self

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class NeuronInfo:
    """One registered uid as the metagraph shows it."""

    uid: int
    hotkey: str
    coldkey: str
    stake: int  # rao staked on this hotkey (own + delegated)
    validator_permit: bool
    incentive: float
    dividends: float
    emission: int  # rao emitted to this uid at the last epoch
    last_update: int
    block_at_registration: int
    consensus: float = 0.0
    validator_trust: float = 0.0  # not returned by a real node's metagraph: 0.0 from the subtensor adapter
    active: bool = True


@dataclass(frozen=True)
class Metagraph:
    """The subnet's neurons at one block, ordered by uid."""

    netuid: int
    block: int
    neurons: tuple[NeuronInfo, ...]

    @property
    def n(self) -> int:
        return len(self.neurons)

    @property
    def hotkeys(self) -> list[str]:
        return [n.hotkey for n in self.neurons]

    @property
    def uids(self) -> list[int]:
        return [n.uid for n in self.neurons]

    def by_hotkey(self, hotkey: str) -> NeuronInfo | None:
        for neuron in self.neurons:
            if neuron.hotkey == hotkey:
                return neuron
        return None

    def uid_of(self, hotkey: str) -> int | None:
        neuron = self.by_hotkey(hotkey)
        return None if neuron is None else neuron.uid

    def neuron(self, uid: int) -> NeuronInfo | None:
        for neuron in self.neurons:
            if neuron.uid == uid:
                return neuron
        return None

    @property
    def validators(self) -> list[NeuronInfo]:
        return [n for n in self.neurons if n.validator_permit]


@dataclass(frozen=True)
class CommitmentRecord:
    """The latest commitment of a hotkey: its raw text and the block it was written at."""

    hotkey: str
    data: str
    block: int


@dataclass(frozen=True)
class Hyperparameters:
    """The subnet hyperparameters the subnet's code reads."""

    tempo: int
    weights_rate_limit: int
    commit_reveal_enabled: bool
    weights_version: int
    max_weight_limit: int  # u16
    min_allowed_weights: int
    immunity_period: int
    max_allowed_uids: int
    max_allowed_validators: int = 64
    activity_cutoff: int = 5000
    commitment_rate_limit: int = 0  # blocks between two commitments of one hotkey (0: none)
    commitment_max_bytes: int = 128
    owner_hotkey: str | None = None
    reveal_period_epochs: int = 1  # commit-reveal: epochs between a commit and its reveal
    extra: Mapping[str, Any] = field(default_factory=dict)


class Chain(ABC):
    """The port. Every method that takes `netuid` works on that subnet only."""

    @abstractmethod
    def block(self) -> int:
        """The current block number."""

    @abstractmethod
    def block_hash(self, block: int) -> str:
        """The `0x…` hash of a past or current block; `ChainError` for a block in the future."""

    @abstractmethod
    def metagraph(self, netuid: int) -> Metagraph:
        """All registered neurons of the subnet."""

    @abstractmethod
    def commitments(self, netuid: int) -> dict[str, CommitmentRecord]:
        """hotkey -> latest commitment (text and block) for every hotkey that committed on this subnet."""

    @abstractmethod
    def commit(self, wallet: Wallet, netuid: int, data: str) -> ChainResult:
        """Write `data` (at most 128 bytes of UTF-8) as this hotkey's commitment, signed by the hotkey."""

    @abstractmethod
    def set_weights(
        self, wallet: Wallet, netuid: int, uids: Sequence[int], weights: Sequence[float], version_key: int
    ) -> ChainResult:
        """Set this validator's weights (proportions; the adapter scales them to u16).

        On a commit-reveal subnet the write is a hidden commit: an ok result then carries
        `data["committed"] = True`, the row changes only when the chain reveals it (epochs later),
        and the version key and validator permit are checked only then, a failure being dropped
        without any error reaching the caller.
        """

    @abstractmethod
    def hyperparameters(self, netuid: int) -> Hyperparameters:
        """The subnet's hyperparameters."""

    @abstractmethod
    def weights(self, netuid: int) -> dict[int, dict[int, float]]:
        """validator uid -> {uid: weight as stored on chain, scaled to [0, 1] by 65535}."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has nothing to release."""

    def __enter__(self) -> "Chain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
