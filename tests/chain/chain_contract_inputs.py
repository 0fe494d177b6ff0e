"""Part of the port's contract: odd arguments to a write come back as a refusal with a reason.

Huge or non-finite floats, integers beyond the chain's types, text that is not UTF-8 and
arguments of the wrong type never raise out of `commit` or `set_weights`: each is a
`ChainResult(ok=False)` whose message says what was wrong, and nothing on chain changes.
Adapters subclass `OddInputContract` with the same `harness` fixture as `ChainContract`.
"""

from __future__ import annotations

from typing import Any

import pytest

from flock_subnet.chain.base import U16_MAX, ChainErrorCode, ChainResult
from tests.chain.chain_contract import ChainHarness, _snapshot

_COMMITS = [
    ("lone-surrogate", "f1:local:\udcff", ChainErrorCode.INVALID_INPUT),
    ("non-utf8-bytes", b"f1:\xff\xfe\xfd", ChainErrorCode.INVALID_INPUT),
    ("none", None, ChainErrorCode.INVALID_INPUT),
    ("integer", 12345, ChainErrorCode.INVALID_INPUT),
    ("multibyte-over-128-bytes", "é" * 65, ChainErrorCode.COMMITMENT_TOO_LARGE),
    ("ten-megabytes", "x" * 10_000_000, ChainErrorCode.COMMITMENT_TOO_LARGE),
]

_WEIGHTS = [
    ("int-beyond-float", [0], [10**400], 0, ChainErrorCode.INVALID_WEIGHTS),
    ("text-weight", [0], ["heavy"], 0, ChainErrorCode.INVALID_WEIGHTS),
    ("bool-weight", [0], [True], 0, ChainErrorCode.INVALID_WEIGHTS),
    ("uid-beyond-u16", [2**70], [1.0], 0, ChainErrorCode.INVALID_UIDS),
    ("fractional-uid", [1.5], [1.0], 0, ChainErrorCode.INVALID_UIDS),
    ("text-uids", "01", [1.0, 1.0], 0, ChainErrorCode.INVALID_WEIGHTS),
    ("version-beyond-u64", [0], [1.0], 2**70, ChainErrorCode.INVALID_INPUT),
    ("negative-version", [0], [1.0], -1, ChainErrorCode.INVALID_INPUT),
    ("nan-version", [0], [1.0], float("nan"), ChainErrorCode.INVALID_INPUT),
]


def _refused_with_reason(result: Any, code: ChainErrorCode) -> None:
    assert isinstance(result, ChainResult), f"a write returned {type(result).__name__}, not a ChainResult"
    assert not result.ok, "an odd argument was accepted"
    assert result.error is code, f"expected {code.value}, got {result.error} ({result.message})"
    assert result.message and len(result.message) < 400, "the reason must be present and short"


class OddInputContract:
    """Odd arguments to the port's writes: refused with a reason, state untouched."""

    @pytest.mark.parametrize(("data", "code"), [c[1:] for c in _COMMITS], ids=[c[0] for c in _COMMITS])
    def test_odd_commitments_are_refused_with_a_reason(
        self, harness: ChainHarness, data: Any, code: ChainErrorCode
    ) -> None:
        chain, netuid = harness.chain, harness.netuid
        wallet = harness.new_wallet("miner")
        harness.register(wallet)
        assert chain.commit(wallet, netuid, "kept").ok
        before = _snapshot(chain, netuid)
        _refused_with_reason(chain.commit(wallet, netuid, data), code)
        assert _snapshot(chain, netuid) == before

    @pytest.mark.parametrize("netuid", [2**70, -1, float("nan"), "1"], ids=["huge", "negative", "nan", "text"])
    def test_odd_netuids_are_refused_with_a_reason(self, harness: ChainHarness, netuid: Any) -> None:
        chain = harness.chain
        wallet = harness.new_wallet("miner")
        harness.register(wallet)
        before = _snapshot(chain, harness.netuid)
        _refused_with_reason(chain.commit(wallet, netuid, "f1:x"), ChainErrorCode.INVALID_INPUT)
        _refused_with_reason(chain.set_weights(wallet, netuid, [0], [1.0], 0), ChainErrorCode.INVALID_INPUT)
        assert _snapshot(chain, harness.netuid) == before

    @pytest.mark.parametrize(
        ("uids", "weights", "version_key", "code"), [w[1:] for w in _WEIGHTS], ids=[w[0] for w in _WEIGHTS]
    )
    def test_odd_weight_arguments_are_refused_with_a_reason(
        self, harness: ChainHarness, uids: Any, weights: Any, version_key: Any, code: ChainErrorCode
    ) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator = harness.new_wallet("validator")
        harness.register_validator(validator)
        before = _snapshot(chain, netuid)
        _refused_with_reason(chain.set_weights(validator, netuid, uids, weights, version_key), code)
        assert _snapshot(chain, netuid) == before

    def test_weights_near_the_float_maximum_keep_their_proportions(self, harness: ChainHarness) -> None:
        chain, netuid = harness.chain, harness.netuid
        validator = harness.new_wallet("validator")
        a, b = harness.new_wallet("miner-a"), harness.new_wallet("miner-b")
        vuid = harness.register_validator(validator)
        uid_a, uid_b = harness.register(a), harness.register(b)
        result = chain.set_weights(validator, netuid, [uid_a, uid_b], [1.5e308, 1.7e308], version_key=0)
        assert result.ok, result.message
        row = chain.weights(netuid)[vuid]
        assert row[uid_b] == pytest.approx(1.0)
        assert row[uid_a] == pytest.approx(1.5 / 1.7, abs=2 / U16_MAX)
