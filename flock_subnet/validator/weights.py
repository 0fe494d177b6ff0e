"""Setting weights on chain: at most once per rate-limit window, with the subnet's version key.

The last block this validator set weights at is the larger of the chain's `last_update` for
its uid and the block of the last accepted set recorded in the state file, so a validator that
restarts (or was killed right after a set) never sets twice inside the window. The chain's own
answer stays the final word: a refusal is recorded with its error code and retried later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from flock_subnet import SPEC_VERSION
from flock_subnet.chain.base import Chain, ChainErrorCode, Metagraph, Wallet
from flock_subnet.rules import scoring
from flock_subnet.validator.faults import Backoff, retry
from flock_subnet.validator.state import ValidatorState, WeightSet


def blocks_until_allowed(block: int, last_set: int, rate_limit: int) -> int:
    """How many blocks until setting weights is allowed (0: now). `last_set` 0 means never."""
    if last_set <= 0 or block - last_set >= rate_limit:
        return 0
    return rate_limit - (block - last_set)


@dataclass(frozen=True)
class WeightOutcome:
    """What happened to one chance to set weights."""

    set: bool
    message: str
    block: int | None = None
    error: str | None = None  # the chain's error code, when it refused
    retry_after_blocks: int | None = None


class WeightSetter:
    """Sends the validator's weights when the rate limit allows and records every attempt."""

    def __init__(
        self,
        chain: Chain,
        wallet: Wallet,
        netuid: int,
        state: ValidatorState,
        backoff: Backoff = Backoff(),
        version_key: int = SPEC_VERSION,
        sleep: Any = None,
    ) -> None:
        self.chain = chain
        self.wallet = wallet
        self.netuid = netuid
        self.state = state
        self.backoff = backoff
        self.version_key = version_key
        self._sleep = sleep
        self._quiet_until = 0  # after a refusal, do not ask again before this block

    REFUSAL_PAUSE_BLOCKS = 10  # minimum wait after the chain refused our weights

    @property
    def hotkey(self) -> str:
        return self.wallet.hotkey.ss58_address

    def maybe_set(
        self, weights: Mapping[int, float], round_block: int | None, metagraph: Metagraph | None = None
    ) -> WeightOutcome:
        """Set `weights` (uid -> proportion) if allowed now; never raises for chain refusals."""
        kwargs = {} if self._sleep is None else {"sleep": self._sleep}
        if metagraph is None:
            metagraph = retry(lambda: self.chain.metagraph(self.netuid), "reading the metagraph", self.backoff, **kwargs)
        me = metagraph.by_hotkey(self.hotkey)
        if me is None:
            return WeightOutcome(False, f"hotkey {self.hotkey} is not registered on subnet {self.netuid}; register it first")
        vector = scoring.weight_vector(weights, metagraph.n)
        if sum(vector) <= 0:
            return WeightOutcome(False, "nothing to reward yet (no model has a score); weights left as they are")
        hyper = retry(lambda: self.chain.hyperparameters(self.netuid), "reading hyperparameters", self.backoff, **kwargs)
        block = retry(self.chain.block, "reading the block", self.backoff, **kwargs)
        last = self.state.last_weights()
        own_set = (last.block or 0) if last is not None else 0
        last_set = max(me.last_update, own_set)
        wait = blocks_until_allowed(block, last_set, hyper.weights_rate_limit)
        if wait:
            # the chain's last_update is also the registration block of a uid that never set weights
            what = "weights last set" if own_set >= me.last_update else "this uid last updated (registered or set weights)"
            return WeightOutcome(
                False,
                f"rate limited: {what} at block {last_set}, the subnet allows one set every "
                f"{hyper.weights_rate_limit} blocks (weights_rate_limit); next chance in {wait} blocks",
                retry_after_blocks=wait,
            )
        if block < self._quiet_until:
            return WeightOutcome(
                False, f"the chain refused our last attempt; trying again at block {self._quiet_until}",
                retry_after_blocks=self._quiet_until - block,
            )
        if hyper.weights_version > self.version_key:
            logger.error(
                "subnet {} requires weights version {} but this validator is {}; upgrade flock-subnet",
                self.netuid, hyper.weights_version, self.version_key,
            )
        uids = list(range(metagraph.n))
        result = retry(
            lambda: self.chain.set_weights(self.wallet, self.netuid, uids, vector, version_key=self.version_key),
            "setting weights",
            self.backoff,
            **kwargs,
        )
        error = result.error.value if result.error is not None else None
        set_block = result.block if result.block is not None else block
        self.state.record_weights(
            WeightSet(set_block, round_block, uids, vector, result.ok, result.message or (error or "ok"), self.version_key)
        )
        if result.ok:
            top = max(range(len(vector)), key=lambda i: vector[i])
            logger.info("weights set at block {} (top uid {} with {:.3f})", set_block, top, vector[top])
            return WeightOutcome(True, "weights set", block=set_block)
        self._quiet_until = block + max(result.retry_after_blocks or 0, self.REFUSAL_PAUSE_BLOCKS)
        if result.error is ChainErrorCode.INCORRECT_WEIGHT_VERSION:
            logger.error("the chain refused our weights version {}: {}", self.version_key, result.message)
        else:
            logger.warning("the chain refused our weights: {} {}", error, result.message)
        return WeightOutcome(
            False, f"refused by the chain: {error}: {result.message}", block=block, error=error,
            retry_after_blocks=result.retry_after_blocks,
        )
