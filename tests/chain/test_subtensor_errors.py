"""The SDK-error -> ChainErrorCode table, the retry hint parser and the weight-vector checks."""

from __future__ import annotations

import bittensor as bt
import pytest
from bittensor.result import chain_error_from_substrate_request

from flock_subnet.chain.base import ChainErrorCode as C
from flock_subnet.chain.subtensor_errors import check_weight_vector, classify, retry_after_blocks


@pytest.mark.parametrize(
    ("name", "action", "expected"),
    [
        ("SettingWeightsTooFast", "weights", C.WEIGHTS_RATE_LIMITED),
        ("CommittingWeightsTooFast", "weights", C.COMMITTING_WEIGHTS_TOO_FAST),
        ("NeuronNoValidatorPermit", "weights", C.NO_VALIDATOR_PERMIT),
        ("IncorrectWeightVersionKey", "weights", C.INCORRECT_WEIGHT_VERSION),
        ("NotEnoughStakeToSetWeights", "weights", C.NOT_ENOUGH_STAKE_TO_SET_WEIGHTS),
        ("UidVecContainInvalidOne", "weights", C.INVALID_UIDS),
        ("DuplicateUids", "weights", C.DUPLICATE_UIDS),
        ("WeightVecNotEqualSize", "weights", C.WEIGHT_VEC_NOT_EQUAL_SIZE),
        ("WeightVecLengthIsLow", "weights", C.WEIGHT_VEC_LENGTH_IS_LOW),
        ("CommitRevealEnabled", "weights", C.COMMIT_REVEAL_ENABLED),
        ("HotKeyNotRegisteredInSubNet", "weights", C.NOT_REGISTERED),
        ("HotKeyNotRegisteredInNetwork", "weights", C.NOT_REGISTERED),
        ("HotKeyNotRegisteredInSubNet", "commit", C.NOT_ALLOWED_TO_COMMIT),
        ("MechanismDoesNotExist", "weights", C.SUBNET_NOT_FOUND),
        ("SubnetNotExists", "commit", C.SUBNET_NOT_FOUND),
        ("RateLimitExceeded", "weights", C.WEIGHTS_RATE_LIMITED),
        ("RateLimitExceeded", "commit", C.COMMITMENT_RATE_LIMITED),
        ("CommitmentSetRateLimitExceeded", "commit", C.COMMITMENT_RATE_LIMITED),
        ("SpaceLimitExceeded", "commit", C.COMMITMENT_SPACE_EXCEEDED),
        ("AccountNotAllowedCommit", "commit", C.NOT_ALLOWED_TO_COMMIT),
        ("TooManyFieldsInCommitmentInfo", "commit", C.COMMITMENT_TOO_LARGE),
        ("BadProof", "commit", C.BAD_SIGNATURE),
        ("SomethingNobodyHasSeen", "weights", C.OTHER),
    ],
)
def test_chain_error_names(name, action, expected):
    assert classify(name, None, "", action) is expected


@pytest.mark.parametrize(
    ("sdk_code", "message", "action", "expected"),
    [
        ("not_registered", "Hotkey 5F.. is not registered on netuid 3.", "weights", C.NOT_REGISTERED),
        ("rate_limited", "Retry in ~12 blocks (~144s).", "weights", C.WEIGHTS_RATE_LIMITED),
        ("rate_limited", "", "commit", C.COMMITMENT_RATE_LIMITED),
        ("not_authorized", "Only the sole Null validator permit holder", "weights", C.NO_VALIDATOR_PERMIT),
        ("invalid_argument", "Subnet 3 requires at least 8 weights; only 2 are nonzero", "weights",
         C.WEIGHT_VEC_LENGTH_IS_LOW),
        ("invalid_argument", "something else", "weights", C.OTHER),
        ("unknown", "", "commit", C.OTHER),
    ],
)
def test_preflight_codes(sdk_code, message, action, expected):
    assert classify(None, sdk_code, message, action) is expected


def test_the_sdk_own_objects_classify_as_expected():
    # what the SDK hands back for a pool rejection and for a raised preflight error
    pool = chain_error_from_substrate_request(Exception("Invalid Transaction: Custom error: 6"))
    assert classify(pool.name, pool.code.value, pool.message, "weights") is C.WEIGHTS_RATE_LIMITED
    raised = bt.ChainError("Retry in ~3 blocks (~36s).", code=bt.ErrorCode.RATE_LIMITED)
    assert classify(raised.name, raised.code.value, raised.message, "weights") is C.WEIGHTS_RATE_LIMITED
    on_chain = bt.ChainError("The neuron has no validator permit.", "NeuronNoValidatorPermit")
    assert classify(on_chain.name, on_chain.code.value, on_chain.message, "weights") is C.NO_VALIDATOR_PERMIT


def test_retry_hint():
    assert retry_after_blocks("rate limit is 100 blocks. Retry in ~37 blocks (~444s).") == 37
    assert retry_after_blocks("retry in 1 block") == 1
    assert retry_after_blocks("no hint") is None
    assert retry_after_blocks(None) is None


def test_weight_vector_checks():
    assert check_weight_vector([0, 1], [0.5, 0.5]) is None
    assert check_weight_vector([3], [0.0001]) is None
    assert check_weight_vector([0, 1], [1.0])[0] is C.WEIGHT_VEC_NOT_EQUAL_SIZE
    assert check_weight_vector([0, 0], [1.0, 1.0])[0] is C.DUPLICATE_UIDS
    assert check_weight_vector([70_000], [1.0])[0] is C.INVALID_UIDS
    assert check_weight_vector([0], [float("inf")])[0] is C.INVALID_WEIGHTS
    assert check_weight_vector([0, 1], [0.0, 0.0])[0] is C.INVALID_WEIGHTS
