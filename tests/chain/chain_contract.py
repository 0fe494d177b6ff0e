"""The contract every `Chain` adapter keeps, written only against the port and a small harness.

An adapter's test module provides a `harness` fixture returning a `ChainHarness` (how to make a
wallet, register it, make it a validator, move blocks, change a hyperparameter on that adapter's
backend) and subclasses `ChainContract`:

    class TestLocalChainContract(ChainContract):
        @pytest.fixture
        def harness(self, ...) -> ChainHarness: ...

The harness starts with a subnet (`harness.netuid`) owned by `harness.owner`, commit-reveal off,
`weights_rate_limit` 0 and `weights_version` 0. Every test asserts behaviour through the port
only, so the same tests hold for the local chain and for subtensor.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from typing import Any

import pytest

from flock_subnet.chain.base import (
    U16_MAX,
    Chain,
    ChainError,
    ChainErrorCode,
    ChainResult,
    Hyperparameters,
    Metagraph,
)

VALIDATOR_STAKE = 100 * 10**9


class ChainHarness(ABC):
    """What the contract needs to set up a scenario on one adapter's backend."""

    chain: Chain
    netuid: int
    owner: Any  # the subnet owner's wallet

    @abstractmethod
    def new_wallet(self, name: str) -> Any:
        """A fresh real wallet (hotkey and coldkey) that is not registered anywhere."""

    @abstractmethod
    def register(self, wallet: Any) -> int:
        """Register the wallet's hotkey on `netuid`; returns its uid."""

    @abstractmethod
    def register_validator(self, wallet: Any, stake_rao: int = VALIDATOR_STAKE) -> int:
        """Register, stake and make sure the hotkey holds a validator permit; returns its uid."""

    @abstractmethod
    def advance(self, blocks: int) -> None:
        """Move the chain `blocks` blocks forward."""

    @abstractmethod
    def set_hyperparameter(self, name: str, value: Any) -> None:
        """Change a subnet hyperparameter (names as in `Hyperparameters`: weights_rate_limit,
        weights_version, max_weight_limit, commitment_rate_limit, ...)."""


def _row(chain: Chain, netuid: int, uid: int) -> dict[int, float]:
    return chain.weights(netuid).get(uid, {})


def _reveal_window(chain: Chain, netuid: int) -> int:
    """Blocks after which any commit made now has been revealed (or dropped)."""
    params = chain.hyperparameters(netuid)
    return (params.reveal_period_epochs + 1) * (params.tempo + 1)


def _snapshot(chain: Chain, netuid: int) -> tuple[dict, dict, tuple]:
    """Everything a refused write must leave untouched."""
    mg = chain.metagraph(netuid)
    return (
        chain.weights(netuid),
        {k: (v.data, v.block) for k, v in chain.commitments(netuid).items()},
        tuple((n.uid, n.hotkey, n.last_update, n.stake) for n in mg.neurons),
    )


def _refused(result: ChainResult, code: ChainErrorCode) -> None:
    assert isinstance(result, ChainResult)
    assert not result.ok, f"expected {code.value}, the write was accepted"
    assert result.error is code, f"expected {code.value}, got {result.error} ({result.message})"
    assert result.message, "a refusal must say why"


class ChainContract:
    """Port behaviour every adapter shares. Subclass it and provide a `harness` fixture."""

    # ---------------------------------------------------------------- blocks

    def test_blocks_advance_and_hashes_are_stable_hex(self, harness: ChainHarness) -> None:
        chain = harness.chain
        start = chain.block()
        assert isinstance(start, int) and start >= 0
        harness.advance(3)
        now = chain.block()
        assert now >= start + 3
        first = chain.block_hash(start)
        assert re.fullmatch(r"0x[0-9a-f]{64}", first)
        assert chain.block_hash(start) == first
        assert chain.block_hash(now) != first

    def test_hash_of_a_future_block_is_an_error(self, harness: ChainHarness) -> None:
        with pytest.raises(ChainError):
            harness.chain.block_hash(harness.chain.block() + 1000)

    # ---------------------------------------------------------------- metagraph

    def test_registration_shows_in_the_metagraph(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        wallet = harness.new_wallet("miner")
        before = chain.metagraph(netuid)
        assert isinstance(before, Metagraph)
        assert before.by_hotkey(wallet.hotkey.ss58_address) is None
        uid = harness.register(wallet)
        after = chain.metagraph(netuid)
        neuron = after.neuron(uid)
        assert neuron is not None
        assert neuron.hotkey == wallet.hotkey.ss58_address
        assert neuron.coldkey == wallet.coldkeypub.ss58_address
        assert after.uid_of(wallet.hotkey.ss58_address) == uid
        assert after.uids == sorted(after.uids)
        assert neuron.block_at_registration <= chain.block()
        assert after.n == before.n + 1

    def test_each_uid_shows_the_block_it_was_registered_at(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        first, second = harness.new_wallet("first"), harness.new_wallet("second")
        start = chain.block()
        uid_first = harness.register(first)
        harness.advance(3)
        uid_second = harness.register(second)
        graph = chain.metagraph(netuid)
        at_first = graph.neuron(uid_first).block_at_registration  # type: ignore[union-attr]
        at_second = graph.neuron(uid_second).block_at_registration  # type: ignore[union-attr]
        assert start <= at_first and at_first + 3 <= at_second <= chain.block()

    def test_owner_hotkey_is_registered(self, harness: ChainHarness) -> None:
        params = harness.chain.hyperparameters(harness.netuid)
        assert params.owner_hotkey == harness.owner.hotkey.ss58_address
        assert harness.chain.metagraph(harness.netuid).by_hotkey(params.owner_hotkey) is not None

    def test_validator_has_permit_and_stake(self, harness: ChainHarness) -> None:
        wallet = harness.new_wallet("validator")
        uid = harness.register_validator(wallet)
        neuron = harness.chain.metagraph(harness.netuid).neuron(uid)
        assert neuron is not None and neuron.validator_permit
        assert neuron.stake > 0

    # ---------------------------------------------------------------- commitments

    def test_commitment_round_trip_keeps_only_the_latest(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        wallet = harness.new_wallet("miner")
        harness.register(wallet)
        hotkey = wallet.hotkey.ss58_address
        first = chain.commit(wallet, netuid, "f1:local:alice/model:first")
        assert first.ok, first.message
        record = chain.commitments(netuid)[hotkey]
        assert record.data == "f1:local:alice/model:first"
        assert record.block <= chain.block()
        harness.advance(2)
        second = chain.commit(wallet, netuid, "f1:local:alice/model:second")
        assert second.ok, second.message
        latest = chain.commitments(netuid)[hotkey]
        assert latest.data == "f1:local:alice/model:second"
        assert latest.block > record.block

    def test_a_full_128_byte_commitment_fits(self, harness: ChainHarness) -> None:
        wallet = harness.new_wallet("miner")
        harness.register(wallet)
        data = "x" * 128
        assert harness.chain.commit(wallet, harness.netuid, data).ok
        assert harness.chain.commitments(harness.netuid)[wallet.hotkey.ss58_address].data == data

    def test_oversized_commitment_is_refused_and_changes_nothing(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        wallet = harness.new_wallet("miner")
        harness.register(wallet)
        assert chain.commit(wallet, netuid, "kept").ok
        before = _snapshot(chain, netuid)
        _refused(chain.commit(wallet, netuid, "y" * 129), ChainErrorCode.COMMITMENT_TOO_LARGE)
        assert _snapshot(chain, netuid) == before

    def test_unregistered_hotkey_may_not_commit(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        stranger = harness.new_wallet("stranger")
        before = _snapshot(chain, netuid)
        _refused(chain.commit(stranger, netuid, "f1:local:x/y:z"), ChainErrorCode.NOT_ALLOWED_TO_COMMIT)
        assert stranger.hotkey.ss58_address not in chain.commitments(netuid)
        assert _snapshot(chain, netuid) == before

    # ---------------------------------------------------------------- weights

    def test_set_weights_stores_a_max_upscaled_row_and_bumps_last_update(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator = harness.new_wallet("validator")
        a, b = harness.new_wallet("miner-a"), harness.new_wallet("miner-b")
        vuid = harness.register_validator(validator)
        uid_a, uid_b = harness.register(a), harness.register(b)
        harness.advance(1)
        result = chain.set_weights(validator, netuid, [uid_a, uid_b], [0.3, 0.7], version_key=0)
        assert result.ok, result.message
        assert not result.data.get("committed")
        row = _row(chain, netuid, vuid)
        assert row[uid_b] == pytest.approx(1.0)
        assert row[uid_a] == pytest.approx(round(0.3 / 0.7 * U16_MAX) / U16_MAX, abs=1.5 / U16_MAX)
        neuron = chain.metagraph(netuid).neuron(vuid)
        assert neuron is not None and neuron.last_update == chain.block()

    def test_new_weights_replace_the_whole_row(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator = harness.new_wallet("validator")
        a, b = harness.new_wallet("miner-a"), harness.new_wallet("miner-b")
        vuid = harness.register_validator(validator)
        uid_a, uid_b = harness.register(a), harness.register(b)
        assert chain.set_weights(validator, netuid, [uid_a, uid_b], [0.5, 0.5], version_key=0).ok
        harness.advance(1)
        assert chain.set_weights(validator, netuid, [uid_b], [1.0], version_key=0).ok
        row = {uid: w for uid, w in _row(chain, netuid, vuid).items() if w > 0}
        assert row == {uid_b: pytest.approx(1.0)}

    @pytest.mark.parametrize(
        ("weights", "code"),
        [
            ([float("nan"), 1.0], ChainErrorCode.INVALID_WEIGHTS),
            ([-0.5, 1.0], ChainErrorCode.INVALID_WEIGHTS),
            ([0.0, 0.0], ChainErrorCode.INVALID_WEIGHTS),
            ([float("inf"), 1.0], ChainErrorCode.INVALID_WEIGHTS),
        ],
        ids=["nan", "negative", "all-zero", "infinite"],
    )
    def test_bad_weight_values_are_refused_and_change_nothing(
        self, harness: ChainHarness, weights: list[float], code: ChainErrorCode
    ) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator = harness.new_wallet("validator")
        a, b = harness.new_wallet("miner-a"), harness.new_wallet("miner-b")
        harness.register_validator(validator)
        uids = [harness.register(a), harness.register(b)]
        assert chain.set_weights(validator, netuid, uids, [0.25, 0.75], version_key=0).ok
        harness.advance(1)
        before = _snapshot(chain, netuid)
        _refused(chain.set_weights(validator, netuid, uids, weights, version_key=0), code)
        assert _snapshot(chain, netuid) == before

    def test_bad_uid_vectors_are_refused_and_change_nothing(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator = harness.new_wallet("validator")
        miner = harness.new_wallet("miner")
        harness.register_validator(validator)
        uid = harness.register(miner)
        n = chain.metagraph(netuid).n
        before = _snapshot(chain, netuid)
        _refused(chain.set_weights(validator, netuid, [uid, uid], [0.5, 0.5], 0), ChainErrorCode.DUPLICATE_UIDS)
        _refused(chain.set_weights(validator, netuid, [uid, n + 5], [0.5, 0.5], 0), ChainErrorCode.INVALID_UIDS)
        _refused(chain.set_weights(validator, netuid, [uid], [0.5, 0.5], 0), ChainErrorCode.WEIGHT_VEC_NOT_EQUAL_SIZE)
        assert _snapshot(chain, netuid) == before

    def test_unregistered_hotkey_may_not_set_weights(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        stranger = harness.new_wallet("stranger")
        before = _snapshot(chain, netuid)
        _refused(chain.set_weights(stranger, netuid, [0], [1.0], version_key=0), ChainErrorCode.NOT_REGISTERED)
        assert _snapshot(chain, netuid) == before

    def test_weights_without_a_validator_permit_are_refused(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        miner, other = harness.new_wallet("miner"), harness.new_wallet("other")
        harness.register(miner)
        other_uid = harness.register(other)
        before = _snapshot(chain, netuid)
        _refused(chain.set_weights(miner, netuid, [other_uid], [1.0], 0), ChainErrorCode.NO_VALIDATOR_PERMIT)
        assert _snapshot(chain, netuid) == before

    def test_weights_version_key_below_the_subnet_version_is_refused(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator, miner = harness.new_wallet("validator"), harness.new_wallet("miner")
        harness.register_validator(validator)
        uid = harness.register(miner)
        harness.set_hyperparameter("weights_version", 7)
        assert chain.hyperparameters(netuid).weights_version == 7
        before = _snapshot(chain, netuid)
        _refused(chain.set_weights(validator, netuid, [uid], [1.0], 6), ChainErrorCode.INCORRECT_WEIGHT_VERSION)
        assert _snapshot(chain, netuid) == before
        assert chain.set_weights(validator, netuid, [uid], [1.0], 7).ok

    def test_weights_rate_limit_says_when_to_retry(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator, miner = harness.new_wallet("validator"), harness.new_wallet("miner")
        harness.register_validator(validator)
        uid = harness.register(miner)
        harness.set_hyperparameter("weights_rate_limit", 5)
        harness.advance(6)
        assert chain.set_weights(validator, netuid, [uid], [1.0], 0).ok
        harness.advance(1)
        before = _snapshot(chain, netuid)
        result = chain.set_weights(validator, netuid, [uid], [1.0], 0)
        _refused(result, ChainErrorCode.WEIGHTS_RATE_LIMITED)
        assert result.error is not None and result.error.is_rate_limit
        assert result.retry_after_blocks is not None and 1 <= result.retry_after_blocks <= 5
        assert _snapshot(chain, netuid) == before
        harness.advance(result.retry_after_blocks)
        assert chain.set_weights(validator, netuid, [uid], [1.0], 0).ok

    def test_max_weight_limit_clips_the_stored_row(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator = harness.new_wallet("validator")
        miners = [harness.new_wallet(f"miner-{i}") for i in range(4)]
        vuid = harness.register_validator(validator)
        uids = [harness.register(m) for m in miners]
        harness.set_hyperparameter("max_weight_limit", U16_MAX // 2)
        assert chain.set_weights(validator, netuid, uids, [0.85, 0.05, 0.05, 0.05], 0).ok
        row = _row(chain, netuid, vuid)
        total = sum(row.values())
        assert max(row.values()) / total <= 0.5 + 2 / U16_MAX

    # ---------------------------------------------------------------- commit-reveal

    def test_commit_hides_the_row_until_the_reveal_and_moves_last_update(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator = harness.new_wallet("validator")
        a, b = harness.new_wallet("miner-a"), harness.new_wallet("miner-b")
        vuid = harness.register_validator(validator)
        uid_a, uid_b = harness.register(a), harness.register(b)
        harness.set_hyperparameter("commit_reveal_enabled", True)
        assert chain.hyperparameters(netuid).commit_reveal_enabled is True
        assert chain.hyperparameters(netuid).reveal_period_epochs >= 1
        result = chain.set_weights(validator, netuid, [uid_a, uid_b], [0.3, 0.7], version_key=0)
        assert result.ok, result.message
        assert result.data.get("committed") is True
        assert _row(chain, netuid, vuid) == {}
        committed_at = chain.metagraph(netuid).neuron(vuid).last_update  # type: ignore[union-attr]
        assert committed_at == chain.block()
        harness.advance(_reveal_window(chain, netuid))
        row = _row(chain, netuid, vuid)
        assert row[uid_b] == pytest.approx(1.0)
        assert row[uid_a] == pytest.approx(0.3 / 0.7, abs=2 / U16_MAX)
        assert chain.metagraph(netuid).neuron(vuid).last_update == committed_at  # type: ignore[union-attr]

    def test_a_reveal_below_the_weights_version_is_dropped_silently(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator, miner = harness.new_wallet("validator"), harness.new_wallet("miner")
        vuid = harness.register_validator(validator)
        uid = harness.register(miner)
        harness.set_hyperparameter("commit_reveal_enabled", True)
        harness.set_hyperparameter("weights_version", 7)
        stale = chain.set_weights(validator, netuid, [uid], [1.0], version_key=6)
        assert stale.ok and stale.data.get("committed") is True  # the chain cannot see the version at commit
        harness.advance(_reveal_window(chain, netuid))
        assert _row(chain, netuid, vuid) == {}
        assert chain.set_weights(validator, netuid, [uid], [1.0], version_key=7).ok
        harness.advance(_reveal_window(chain, netuid))
        assert _row(chain, netuid, vuid) == {uid: pytest.approx(1.0)}

    def test_a_reveal_without_a_validator_permit_is_dropped_silently(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator, miner, other = harness.new_wallet("validator"), harness.new_wallet("miner"), harness.new_wallet("other")
        harness.register_validator(validator)
        harness.set_hyperparameter("max_allowed_validators", 1)
        muid, other_uid = harness.register(miner), harness.register(other)
        harness.set_hyperparameter("commit_reveal_enabled", True)
        result = chain.set_weights(miner, netuid, [other_uid], [1.0], version_key=0)
        assert result.ok and result.data.get("committed") is True
        harness.advance(_reveal_window(chain, netuid))
        assert not chain.metagraph(netuid).neuron(muid).validator_permit  # type: ignore[union-attr]
        assert _row(chain, netuid, muid) == {}

    # ---------------------------------------------------------------- hyperparameters

    def test_hyperparameters_are_typed_and_follow_changes(self, harness: ChainHarness) -> None:
        params = harness.chain.hyperparameters(harness.netuid)
        assert isinstance(params, Hyperparameters)
        assert params.commit_reveal_enabled is False
        assert params.tempo > 0 and params.max_allowed_uids > 0
        assert 0 < params.max_weight_limit <= U16_MAX
        harness.set_hyperparameter("weights_rate_limit", 42)
        assert harness.chain.hyperparameters(harness.netuid).weights_rate_limit == 42

    def test_unknown_subnet_reads_raise(self, harness: ChainHarness) -> None:
        with pytest.raises(ChainError) as info:
            harness.chain.metagraph(harness.netuid + 977)
        assert info.value.code is ChainErrorCode.SUBNET_NOT_FOUND

    def test_weights_read_back_as_proportions(self, harness: ChainHarness) -> None:
        for row in harness.chain.weights(harness.netuid).values():
            assert all(0.0 <= w <= 1.0 and not math.isnan(w) for w in row.values())
