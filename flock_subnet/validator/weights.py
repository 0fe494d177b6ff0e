"""Setting weights on chain: at most once per rate-limit window, with the subnet's version key,
and followed until the chain shows them.

The last block this validator set weights at is the larger of the chain's `last_update` for
its uid and the block of the last accepted set recorded in the state file, so a validator that
restarts (or was killed right after a set) never sets twice inside the window. The chain's own
answer stays the final word: a refusal is recorded with its error code and retried later.

Before submitting, the validator refuses locally what the chain would refuse or, on a
commit-reveal subnet, drop without a word: a subnet `weights_version` above this code's
`SPEC_VERSION`, and a hotkey with neither a validator permit nor the subnet's ownership.
Every submission is recorded (`validator status` shows them): `set` or `refused` on a plain
subnet; on a commit-reveal subnet `committed`, then `revealed` once the chain's weights row for
this uid shows what was committed, or `dropped` (an alarm) when the reveal window passed without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from flock_subnet import SPEC_VERSION
from flock_subnet.chain.base import Chain, ChainErrorCode, Hyperparameters, Metagraph, NeuronInfo, Wallet
from flock_subnet.rules import scoring
from flock_subnet.telemetry import WandbRun
from flock_subnet.validator.faults import Backoff, is_validator_fault, retry
from flock_subnet.validator.state import SubmissionState, ValidatorState, WeightSet, WeightSubmission

ROW_TOLERANCE = 2e-3  # u16 rounding and max-upscaling move a proportion by far less than this


def blocks_until_allowed(block: int, last_set: int, rate_limit: int) -> int:
    """How many blocks until setting weights is allowed (0: now). `last_set` 0 means never."""
    if last_set <= 0 or block - last_set >= rate_limit:
        return 0
    return rate_limit - (block - last_set)


def local_refusal(hyper: Hyperparameters, me: NeuronInfo, hotkey: str, version_key: int) -> str | None:
    """Why the chain would refuse (or silently drop) these weights, or None when it would take them."""
    if hyper.weights_version > version_key:
        return (
            f"the subnet requires weights version {hyper.weights_version} but this validator is version "
            f"{version_key}; upgrade flock-subnet"
        )
    if not me.validator_permit and hotkey != hyper.owner_hotkey:
        return (
            f"uid {me.uid} has no validator permit (permits go to the top {hyper.max_allowed_validators} stakes "
            "at each epoch) and is not the subnet owner; add stake and wait for the next epoch"
        )
    return None


def reveal_deadline(commit_block: int, hyper: Hyperparameters) -> int:
    """The block by which a commit made at `commit_block` has been revealed, one epoch of grace included."""
    return commit_block + (max(1, hyper.reveal_period_epochs) + 1) * (hyper.tempo + 1)


def row_matches(uids: Sequence[int], weights: Sequence[float], row: Mapping[int, float]) -> bool:
    """Whether the chain's weights row (max-normalised) holds these weights."""
    top = max(weights, default=0.0)
    if top <= 0:
        return False
    expected = {int(u): w / top for u, w in zip(uids, weights) if w / top > ROW_TOLERANCE}
    seen = {int(u): w for u, w in row.items() if w > ROW_TOLERANCE}
    if set(expected) != set(seen):
        return False
    return all(abs(expected[u] - seen[u]) <= ROW_TOLERANCE for u in expected)


def zero_changed_hands(vector: Sequence[float], hotkeys: Mapping[int, str], metagraph: Metagraph) -> list[float]:
    """The weight vector with zero for every uid whose hotkey is no longer the one it was scored as."""
    current = {n.uid: n.hotkey for n in metagraph.neurons}
    return [0.0 if uid in hotkeys and current.get(uid) != hotkeys[uid] else w for uid, w in enumerate(vector)]


@dataclass(frozen=True)
class WeightOutcome:
    """What happened to one chance to set weights."""

    set: bool
    message: str
    block: int | None = None
    error: str | None = None  # the chain's error code, when it refused
    retry_after_blocks: int | None = None
    state: SubmissionState | None = None  # the submission recorded, if one was


class WeightSetter:
    """Sends the validator's weights when the rate limit allows and records every submission."""

    REFUSAL_PAUSE_BLOCKS = 10  # minimum wait after the chain refused our weights

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
        self._reveals_checked_at: int | None = None
        self._events: dict[str, Any] = {}  # W&B counts (and the last problem) since the last `log_to`

    @property
    def hotkey(self) -> str:
        return self.wallet.hotkey.ss58_address

    def _retry(self, call: Any, what: str) -> Any:
        kwargs = {} if self._sleep is None else {"sleep": self._sleep}
        return retry(call, what, self.backoff, **kwargs)

    def _count(self, state: SubmissionState, reason: str = "") -> None:
        key = f"weights/{state.value}"
        self._events[key] = self._events.get(key, 0) + 1
        if state in (SubmissionState.REFUSED, SubmissionState.DROPPED):
            self._events["weights/problem"] = f"{state.value}: {reason}"

    def log_to(self, run: WandbRun, step: int | None = None) -> None:
        """Send the submissions' states since the last call to W&B (a drop is `weights/dropped`, and
        `weights/problem` says what went wrong last)."""
        if self._events:
            run.log(dict(self._events), step=step)
            self._events = {}

    def maybe_set(
        self,
        weights: Mapping[int, float],
        round_block: int | None,
        metagraph: Metagraph | None = None,
        hotkeys: Mapping[int, str] | None = None,
    ) -> WeightOutcome:
        """Set `weights` (uid -> proportion) if allowed now; never raises for chain refusals.

        `hotkeys` (uid -> hotkey the weights were computed for): a uid that changed hands since gets zero.
        """
        if metagraph is None:
            metagraph = self._retry(lambda: self.chain.metagraph(self.netuid), "reading the metagraph")
        me = metagraph.by_hotkey(self.hotkey)
        if me is None:
            return WeightOutcome(False, f"hotkey {self.hotkey} is not registered on subnet {self.netuid}; register it first")
        vector = scoring.weight_vector(weights, metagraph.n)
        if hotkeys:
            vector = zero_changed_hands(vector, hotkeys, metagraph)
        if sum(vector) <= 0:
            return WeightOutcome(False, "nothing to reward yet (no model has a score); weights left as they are")
        hyper = self._retry(lambda: self.chain.hyperparameters(self.netuid), "reading hyperparameters")
        block = self._retry(self.chain.block, "reading the block")
        uids = list(range(metagraph.n))
        refusal = local_refusal(hyper, me, self.hotkey, self.version_key)
        if refusal is not None:
            return self._refuse_locally(round_block, block, uids, vector, refusal)
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
        result = self._retry(
            lambda: self.chain.set_weights(self.wallet, self.netuid, uids, vector, version_key=self.version_key),
            "setting weights",
        )
        error = result.error.value if result.error is not None else None
        set_block = result.block if result.block is not None else block
        self.state.record_weights(
            WeightSet(set_block, round_block, uids, vector, result.ok, result.message or (error or "ok"), self.version_key)
        )
        if result.ok:
            return self._accepted(round_block, set_block, uids, vector, hyper, bool(result.data.get("committed", False)))
        if result.error is ChainErrorCode.UNAVAILABLE:  # nothing reached the chain: not a refusal, no pause
            logger.error("could not reach the chain to set weights ({}); will retry", result.message)
            return WeightOutcome(False, f"chain unavailable: {result.message}; will retry", block=block, error=error)
        self._quiet_until = block + max(result.retry_after_blocks or 0, self.REFUSAL_PAUSE_BLOCKS)
        reason = f"refused by the chain: {error}: {result.message}"
        self._record(WeightSubmission(round_block, block, SubmissionState.REFUSED, reason, uids, vector, self.version_key))
        if result.error is ChainErrorCode.INCORRECT_WEIGHT_VERSION:
            logger.error("the chain refused our weights version {}: {}", self.version_key, result.message)
        else:
            logger.warning("the chain refused our weights: {} {}", error, result.message)
        return WeightOutcome(
            False, reason, block=block, error=error, retry_after_blocks=result.retry_after_blocks,
            state=SubmissionState.REFUSED,
        )

    def _record(self, submission: WeightSubmission) -> None:
        self.state.record_submission(submission)
        self._count(submission.state, submission.reason)

    def _accepted(
        self, round_block: int | None, block: int, uids: list[int], vector: list[float], hyper: Hyperparameters,
        committed: bool,
    ) -> WeightOutcome:
        top = max(range(len(vector)), key=lambda i: vector[i])
        if not committed:
            self._record(WeightSubmission(round_block, block, SubmissionState.SET, "", uids, vector, self.version_key))
            logger.info("weights set at block {} (top uid {} with {:.3f})", block, top, vector[top])
            return WeightOutcome(True, "weights set", block=block, state=SubmissionState.SET)
        deadline = reveal_deadline(block, hyper)
        reason = f"hidden until the chain reveals it; checked by block {deadline}"
        self._record(
            WeightSubmission(round_block, block, SubmissionState.COMMITTED, reason, uids, vector, self.version_key, deadline)
        )
        logger.info("weights committed at block {} (top uid {} with {:.3f}); reveal due by block {}",
                    block, top, vector[top], deadline)
        return WeightOutcome(True, f"weights committed; reveal due by block {deadline}", block=block,
                             state=SubmissionState.COMMITTED)

    def _refuse_locally(
        self, round_block: int | None, block: int, uids: list[int], vector: list[float], reason: str
    ) -> WeightOutcome:
        """Record a local refusal once per round and reason (the loop asks again and again)."""
        newest = self.state.weight_submissions(limit=1)
        repeated = bool(newest) and (newest[0].state, newest[0].reason, newest[0].round_block) == (
            SubmissionState.REFUSED, reason, round_block
        )
        if not repeated:
            self._record(WeightSubmission(round_block, block, SubmissionState.REFUSED, reason, uids, vector, self.version_key))
            logger.error("weights not submitted: {}", reason)
        return WeightOutcome(False, f"refused locally: {reason}", block=block, state=SubmissionState.REFUSED)

    def track_reveals(self) -> list[WeightSubmission]:
        """Settle committed submissions against the chain's weights row; returns those settled now.

        Newest first: a commit whose weights show is `revealed`, and so is every older commit still
        open (the newer reveal replaced its row); a commit past its reveal window whose weights do
        not show is `dropped`, with an error log and a W&B alarm. Chain outages leave them open.
        """
        open_ = self.state.weight_submissions(SubmissionState.COMMITTED, limit=50)
        if not open_:
            return []
        try:
            block = self._retry(self.chain.block, "reading the block")
            if block == self._reveals_checked_at:
                return []  # nothing on chain moved since the last look
            uid = self._retry(lambda: self.chain.metagraph(self.netuid), "reading the metagraph").uid_of(self.hotkey)
            rows = self._retry(lambda: self.chain.weights(self.netuid), "reading weights")
            self._reveals_checked_at = block
        except Exception as exc:
            if not is_validator_fault(exc):
                raise
            logger.warning("could not check weight reveals ({}); will check again", exc)
            return []
        row = rows.get(uid, {}) if uid is not None else {}
        settled: list[WeightSubmission] = []
        revealed_at: int | None = None
        for sub in open_:
            if revealed_at is not None:
                reason = f"superseded by the commit of block {revealed_at}, which the chain revealed"
                state = SubmissionState.REVEALED
            elif row_matches(sub.uids, sub.weights, row):
                revealed_at, state = sub.block, SubmissionState.REVEALED
                reason = f"the chain's weights row for uid {uid} shows the committed weights (checked at block {block})"
            elif sub.reveal_by is not None and block >= sub.reveal_by:
                state = SubmissionState.DROPPED
                why = (
                    f"this hotkey is no longer registered on subnet {self.netuid}" if uid is None else
                    f"at the reveal it checks the version key {sub.version_key} against the subnet's weights_version "
                    "and the validator permit"
                )
                reason = (
                    f"not revealed by block {sub.reveal_by}: the chain dropped the commit of block {sub.block} "
                    f"({why}); the weights counted are still the last revealed ones"
                )
                logger.error("ALARM weights dropped: {}", reason)
            else:
                continue
            self.state.update_submission(int(sub.id or 0), state, reason)
            self._count(state, reason)
            settled.append(sub)
        return settled
