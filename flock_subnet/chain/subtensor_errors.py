"""Map the bittensor SDK's chain errors onto the port's `ChainErrorCode`s (pure functions).

The SDK reports a refused write in two ways: a `ChainError` raised by its client-side
preflight (no error name, only a semantic code such as `rate_limited`), or a failed
`ExtrinsicResult` whose error carries the chain's own error name (`SettingWeightsTooFast`,
`AccountNotAllowedCommit`, ...) or a pool rejection resolved to a name (`RateLimitExceeded`).
Both arrive here as plain strings, so this module needs no bittensor import and is tested
on its own.
"""

from __future__ import annotations

import re
from typing import Literal

from flock_subnet.chain.base import ChainErrorCode

Action = Literal["weights", "commit"]

# Chain error names that mean the same thing as one of the port's codes, beyond the codes'
# own values (every `ChainErrorCode` value is itself a chain error name and maps to itself).
_NAME_ALIASES: dict[str, ChainErrorCode] = {
    "HotKeyNotRegisteredInNetwork": ChainErrorCode.NOT_REGISTERED,
    "NotRegistered": ChainErrorCode.NOT_REGISTERED,
    "HotKeyAccountNotExists": ChainErrorCode.NOT_REGISTERED,
    "UidNotFound": ChainErrorCode.NOT_REGISTERED,
    "MechanismDoesNotExist": ChainErrorCode.SUBNET_NOT_FOUND,
    "SubNetworkDoesNotExist": ChainErrorCode.SUBNET_NOT_FOUND,
    "TooManyFieldsInCommitmentInfo": ChainErrorCode.COMMITMENT_TOO_LARGE,
    "UidsLengthExceedUidsInSubNet": ChainErrorCode.INVALID_UIDS,
    "BadProof": ChainErrorCode.BAD_SIGNATURE,
    "BadSigner": ChainErrorCode.BAD_SIGNATURE,
    "StakeAmountTooLow": ChainErrorCode.NOT_ENOUGH_STAKE_TO_SET_WEIGHTS,
    "BalanceTooLow": ChainErrorCode.NOT_ENOUGH_BALANCE,
}

# Names whose meaning depends on which write was refused.
_BY_ACTION: dict[str, dict[Action, ChainErrorCode]] = {
    # pool rejection `Custom error: 6`: the transaction extension's rate limit
    "RateLimitExceeded": {
        "weights": ChainErrorCode.WEIGHTS_RATE_LIMITED,
        "commit": ChainErrorCode.COMMITMENT_RATE_LIMITED,
    },
}

# The SDK's semantic `ErrorCode` values (preflight errors carry only these).
_BY_SDK_CODE: dict[str, dict[Action, ChainErrorCode]] = {
    "not_registered": {"weights": ChainErrorCode.NOT_REGISTERED, "commit": ChainErrorCode.NOT_ALLOWED_TO_COMMIT},
    "rate_limited": {
        "weights": ChainErrorCode.WEIGHTS_RATE_LIMITED,
        "commit": ChainErrorCode.COMMITMENT_RATE_LIMITED,
    },
    "not_authorized": {
        "weights": ChainErrorCode.NO_VALIDATOR_PERMIT,
        "commit": ChainErrorCode.NOT_ALLOWED_TO_COMMIT,
    },
    "insufficient_balance": {
        "weights": ChainErrorCode.NOT_ENOUGH_STAKE_TO_SET_WEIGHTS,
        "commit": ChainErrorCode.NOT_ENOUGH_BALANCE,
    },
    "subnet_not_exists": {"weights": ChainErrorCode.SUBNET_NOT_FOUND, "commit": ChainErrorCode.SUBNET_NOT_FOUND},
    "disabled": {"weights": ChainErrorCode.COMMIT_REVEAL_ENABLED, "commit": ChainErrorCode.OTHER},
    "limit_exceeded": {"weights": ChainErrorCode.OTHER, "commit": ChainErrorCode.COMMITMENT_SPACE_EXCEEDED},
}

_RETRY_IN = re.compile(r"retry in ~?(\d+) blocks?", re.IGNORECASE)
_MIN_WEIGHTS = re.compile(r"requires at least \d+ weights", re.IGNORECASE)

_BY_VALUE = {code.value: code for code in ChainErrorCode}


def classify(name: str | None, sdk_code: str | None, message: str, action: Action) -> ChainErrorCode:
    """The port's code for an SDK chain error: by chain error name first, then by SDK code."""
    if name:
        if name in _BY_VALUE and _BY_VALUE[name] is not ChainErrorCode.OTHER:
            code = _BY_VALUE[name]
            if action == "commit" and code is ChainErrorCode.NOT_REGISTERED:
                return ChainErrorCode.NOT_ALLOWED_TO_COMMIT
            return code
        if name in _NAME_ALIASES:
            code = _NAME_ALIASES[name]
            if action == "commit" and code is ChainErrorCode.NOT_REGISTERED:
                return ChainErrorCode.NOT_ALLOWED_TO_COMMIT
            return code
        if name in _BY_ACTION:
            return _BY_ACTION[name][action]
        if name.endswith("TooFast") or "RateLimit" in name:
            return ChainErrorCode.WEIGHTS_RATE_LIMITED if action == "weights" else ChainErrorCode.COMMITMENT_RATE_LIMITED
    if sdk_code == "invalid_argument" and action == "weights" and _MIN_WEIGHTS.search(message or ""):
        return ChainErrorCode.WEIGHT_VEC_LENGTH_IS_LOW
    if sdk_code in _BY_SDK_CODE:
        return _BY_SDK_CODE[sdk_code][action]
    return ChainErrorCode.OTHER


def retry_after_blocks(message: str | None) -> int | None:
    """Blocks to wait, when the SDK's message says so ("Retry in ~37 blocks")."""
    match = _RETRY_IN.search(message or "")
    return int(match.group(1)) if match else None


def check_weight_vector(uids: list[int], weights: list[float]) -> tuple[ChainErrorCode, str] | None:
    """Refuse, before touching the chain, a weight vector no chain would accept."""
    if len(uids) != len(weights):
        return ChainErrorCode.WEIGHT_VEC_NOT_EQUAL_SIZE, f"{len(uids)} uids but {len(weights)} weights"
    if not uids:
        return ChainErrorCode.INVALID_WEIGHTS, "no weights given; pass at least one uid with a positive weight"
    if len(set(uids)) != len(uids):
        return ChainErrorCode.DUPLICATE_UIDS, "each uid may appear once in a weight vector"
    if any(uid < 0 or uid > 65_535 for uid in uids):
        return ChainErrorCode.INVALID_UIDS, "uids must be in 0..65535"
    if any(w != w or w in (float("inf"), float("-inf")) or w < 0 for w in weights):
        return ChainErrorCode.INVALID_WEIGHTS, "weights must be finite and non-negative"
    if not any(w > 0 for w in weights):
        return ChainErrorCode.INVALID_WEIGHTS, "all weights are zero; give at least one uid a positive weight"
    return None


# Exception type names that mean a key could not be loaded or unlocked (bittensor_core, the SDK).
_WALLET_ERRORS = {"KeyfileError", "PasswordError", "DecryptionError"}

WALLET_FIX = (
    "the hotkey file is encrypted and nothing can type its password without a terminal: give the process "
    "the password (BT_WALLET_PASSWORD, or BT_PW_<key file path in capitals, / and . as _>), or regenerate "
    "the hotkey unencrypted (`btcli wallet regen-hotkey`; btcli 11 writes hotkeys unencrypted)"
)


def is_wallet_error(exc: BaseException) -> bool:
    """An exception raised while loading or unlocking a key, not by the chain."""
    return type(exc).__name__ in _WALLET_ERRORS or "password" in str(exc).lower()


def wallet_hint(exc: BaseException) -> str:
    """What to do about a key that could not be used."""
    if is_wallet_error(exc) or isinstance(exc, EOFError):
        return WALLET_FIX
    return "check --wallet.name, --wallet.hotkey and --wallet.path point at an existing wallet"


def unexpected_error_hint(exc: BaseException) -> str:
    """A hint for an SDK exception the adapter has no specific handling for."""
    text = f"{type(exc).__name__} {exc}".lower()
    if "storagefunctionnotfound" in text or "metadata" in text or "runtime api" in text:
        return (
            "the node's runtime does not match the bittensor SDK this code pins (a storage item, call or runtime "
            "API it reads is missing): point at a node on the current runtime, or upgrade flock-subnet"
        )
    return "retry later; if it keeps happening, report it with this message"
