"""SubtensorChain through the real bittensor SDK, with the in-memory `FakeSubstrate` as the node."""

from __future__ import annotations

import math
import socket
import threading
import time

import bittensor as bt
import pytest
from bittensor.sp_core import Keypair

from flock_subnet.chain.base import U16_MAX, ChainError, ChainErrorCode, ChainUnavailable
from flock_subnet.chain.subtensor import SubtensorChain
from flock_subnet.commands.wiring import open_chain
from flock_subnet.config import ChainSettings
from tests.chain.fake_substrate import RAO, FakeSubstrate

READ_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def wallets(tmp_path_factory):
    """Real on-disk bittensor wallets (unencrypted coldkeys, plaintext hotkeys)."""
    root = tmp_path_factory.mktemp("wallets")
    return {
        name: bt.wallets.create(name, "default", path=str(root), use_password=False, on_mnemonic=lambda *_: None)
        for name in ("owner", "validator", "miner", "stranger")
    }


def hotkey(wallet) -> str:
    return wallet.hotkeypub.ss58_address


def coldkey(wallet) -> str:
    return wallet.coldkeypub.ss58_address


@pytest.fixture
def net(wallets):
    """A fake node with one subnet: owner (uid 0), validator (uid 1, staked), miner (uid 2)."""
    fake = FakeSubstrate()
    netuid = fake.create_subnet(
        hotkey(wallets["owner"]), coldkey(wallets["owner"]), commit_reveal_weights_enabled=False, weights_rate_limit=5
    )
    for name in ("validator", "miner"):
        fake.register(hotkey(wallets[name]), coldkey(wallets[name]), netuid)
    fake.add_stake(hotkey(wallets["validator"]), netuid, 1000 * RAO)
    chain = SubtensorChain("local", substrate=fake, read_timeout_s=READ_TIMEOUT_S, write_timeout_s=READ_TIMEOUT_S)
    yield fake, chain, netuid
    fake.hang_reads = fake.hang_submits = False
    chain.close()


# ---------------------------------------------------------------------------- construction


def test_open_chain_picks_the_subtensor_adapter_without_connecting():
    chain = open_chain(ChainSettings(network="local"))
    try:
        assert isinstance(chain, SubtensorChain)
        assert chain.endpoint.startswith("ws://")
        assert chain.reconnects == 0
    finally:
        chain.close()


def test_unknown_network_says_what_to_pass():
    with pytest.raises(ChainError, match="--subtensor.network"):
        SubtensorChain("nowhere")


# ---------------------------------------------------------------------------- reads


def test_block_and_block_hash(net):
    fake, chain, _ = net
    fake.advance(4)
    assert chain.block() == fake.block == 5
    assert chain.block_hash(3) == fake.hash_of(3)
    assert chain.block_hash(5).startswith("0x")
    with pytest.raises(ChainError, match="does not exist yet"):
        chain.block_hash(6)
    with pytest.raises(ChainError, match="blocks start at 0"):
        chain.block_hash(-1)


def test_metagraph_maps_rao_and_proportions(net, wallets):
    fake, chain, netuid = net
    fake.set_scores(netuid, 2, incentive=U16_MAX, emission=41 * RAO, consensus=U16_MAX // 2)
    fake.set_scores(netuid, 1, dividends=U16_MAX)
    graph = chain.metagraph(netuid)
    assert graph.netuid == netuid and graph.block == fake.block
    assert graph.uids == [0, 1, 2]
    assert graph.hotkeys == [hotkey(wallets[n]) for n in ("owner", "validator", "miner")]
    validator, miner = graph.neuron(1), graph.neuron(2)
    assert validator.coldkey == coldkey(wallets["validator"])
    assert validator.stake == 1000 * RAO and isinstance(validator.stake, int)
    assert validator.validator_permit and not miner.validator_permit
    assert validator.dividends == 1.0
    assert validator.validator_trust == 0.0  # a real node's metagraph does not return it
    assert miner.incentive == 1.0 and miner.emission == 41 * RAO
    assert math.isclose(miner.consensus, 0.5, abs_tol=1e-4)
    assert graph.validators == [validator]


def test_metagraph_of_a_missing_subnet(net):
    _, chain, _ = net
    with pytest.raises(ChainError) as info:
        chain.metagraph(77)
    assert info.value.code is ChainErrorCode.SUBNET_NOT_FOUND


def test_hyperparameters(net, wallets):
    fake, chain, netuid = net
    fake.set_hyperparameter(netuid, "weights_version", 1234)
    params = chain.hyperparameters(netuid)
    assert params.tempo == 360
    assert params.weights_rate_limit == 5
    assert params.commit_reveal_enabled is False
    assert params.weights_version == 1234
    assert params.max_weight_limit == U16_MAX
    assert params.max_allowed_validators == 64
    assert params.commitment_max_bytes == 128
    assert params.owner_hotkey == hotkey(wallets["owner"])
    assert params.reveal_period_epochs == 1
    # not in the hyperparameters runtime API: read from storage, the cutoff from its factor
    assert "max_allowed_uids" not in params.extra and params.max_allowed_uids == 256
    assert params.activity_cutoff == 13_889 * 360 // 1000
    fake.set_hyperparameter(netuid, "max_allowed_uids", 128)
    assert chain.hyperparameters(netuid).max_allowed_uids == 128
    with pytest.raises(ChainError) as info:
        chain.hyperparameters(77)
    assert info.value.code is ChainErrorCode.SUBNET_NOT_FOUND


# ---------------------------------------------------------------------------- commitments


def test_commitment_round_trip_is_one_hotkey_signed_raw_field(net, wallets):
    fake, chain, netuid = net
    text = "f1:local:alice/model:" + "A" * 27 + ":" + "B" * 43
    result = chain.commit(wallets["miner"], netuid, text)
    assert result.ok, result.message
    assert fake.submitted[-1] == ("Commitments", "set_commitment", hotkey(wallets["miner"]))
    stored = fake.subnets[netuid].commitments[hotkey(wallets["miner"])]
    assert stored["info"]["fields"] == [{f"Raw{len(text)}": "0x" + text.encode().hex()}]
    record = chain.commitments(netuid)[hotkey(wallets["miner"])]
    assert record.data == text and record.block == result.block == fake.block

    fake.advance(3)
    again = chain.commit(wallets["miner"], netuid, "second")
    assert again.ok and again.block > result.block
    assert chain.commitments(netuid)[hotkey(wallets["miner"])].data == "second"


def test_commitment_limits(net, wallets):
    fake, chain, netuid = net
    assert chain.commit(wallets["miner"], netuid, "é" * 64).ok  # 128 bytes of UTF-8
    submitted = len(fake.submitted)
    too_big = chain.commit(wallets["miner"], netuid, "x" * 129)
    assert not too_big.ok and too_big.error is ChainErrorCode.COMMITMENT_TOO_LARGE
    assert len(fake.submitted) == submitted  # refused before reaching the chain


def test_commit_from_an_unregistered_hotkey(net, wallets):
    _, chain, netuid = net
    result = chain.commit(wallets["stranger"], netuid, "hello")
    assert not result.ok and result.error is ChainErrorCode.NOT_ALLOWED_TO_COMMIT


def test_commitment_byte_quota_per_tempo(wallets):
    fake = FakeSubstrate(max_space=250)
    netuid = fake.create_subnet(hotkey(wallets["owner"]), coldkey(wallets["owner"]), tempo=100)
    fake.register(hotkey(wallets["miner"]), coldkey(wallets["miner"]), netuid)
    chain = SubtensorChain("local", substrate=fake, read_timeout_s=READ_TIMEOUT_S)
    try:
        assert chain.commit(wallets["miner"], netuid, "a").ok
        assert chain.commit(wallets["miner"], netuid, "b").ok
        third = chain.commit(wallets["miner"], netuid, "c")
        assert not third.ok and third.error is ChainErrorCode.COMMITMENT_SPACE_EXCEEDED
        assert third.error.is_rate_limit
        fake.advance(101)  # the next tempo resets the quota
        assert chain.commit(wallets["miner"], netuid, "d").ok
    finally:
        chain.close()


# ---------------------------------------------------------------------------- weights


def test_set_weights_then_read_them_back(net, wallets):
    fake, chain, netuid = net
    result = chain.set_weights(wallets["validator"], netuid, [1, 2], [0.25, 0.75], version_key=7)
    assert result.ok, result.message
    assert fake.submitted[-1] == ("SubtensorModule", "set_mechanism_weights", hotkey(wallets["validator"]))
    assert fake.subnets[netuid].last_update[1] == result.block
    row = chain.weights(netuid)[1]
    assert row[2] == 1.0 and math.isclose(row[1], 1 / 3, rel_tol=1e-3)


def test_set_weights_rate_limit_then_success(net, wallets):
    fake, chain, netuid = net
    assert chain.set_weights(wallets["validator"], netuid, [2], [1.0], 1).ok
    limited = chain.set_weights(wallets["validator"], netuid, [2], [1.0], 1)
    assert not limited.ok and limited.error is ChainErrorCode.WEIGHTS_RATE_LIMITED
    assert limited.retry_after_blocks == 5
    fake.advance(5)
    assert chain.set_weights(wallets["validator"], netuid, [2], [1.0], 1).ok


def test_set_weights_not_registered(net, wallets):
    _, chain, netuid = net
    result = chain.set_weights(wallets["stranger"], netuid, [1], [1.0], 0)
    assert not result.ok and result.error is ChainErrorCode.NOT_REGISTERED


@pytest.mark.parametrize(
    ("setup", "uids", "expected"),
    [
        ("no_permit", [1, 2], ChainErrorCode.NO_VALIDATOR_PERMIT),
        ("version", [1, 2], ChainErrorCode.INCORRECT_WEIGHT_VERSION),
        ("threshold", [1, 2], ChainErrorCode.NOT_ENOUGH_STAKE_TO_SET_WEIGHTS),
        (None, [1, 9], ChainErrorCode.INVALID_UIDS),
        ("min_weights", [1, 2], ChainErrorCode.WEIGHT_VEC_LENGTH_IS_LOW),
        ("pool_rate_limit", [1, 2], ChainErrorCode.WEIGHTS_RATE_LIMITED),
    ],
)
def test_set_weights_refusals_map_to_codes(net, wallets, setup, uids, expected):
    fake, chain, netuid = net
    signer = wallets["miner"] if setup == "no_permit" else wallets["validator"]
    if setup == "version":
        fake.set_hyperparameter(netuid, "weights_version", 10)
    if setup == "threshold":
        fake.stake_threshold = 10_000 * RAO
    if setup == "min_weights":
        fake.set_hyperparameter(netuid, "min_allowed_weights", 3)
    if setup == "pool_rate_limit":
        fake.reject_next_submit = "Invalid Transaction: Custom error: 6"
    result = chain.set_weights(signer, netuid, uids, [0.5] * len(uids), version_key=1)
    assert not result.ok
    assert result.error is expected, result.message


@pytest.mark.parametrize(
    ("uids", "weights", "expected"),
    [
        ([1, 2], [1.0], ChainErrorCode.WEIGHT_VEC_NOT_EQUAL_SIZE),
        ([1, 1], [0.5, 0.5], ChainErrorCode.DUPLICATE_UIDS),
        ([1, 2], [0.0, 0.0], ChainErrorCode.INVALID_WEIGHTS),
        ([1, 2], [float("nan"), 1.0], ChainErrorCode.INVALID_WEIGHTS),
        ([1, 2], [-1.0, 1.0], ChainErrorCode.INVALID_WEIGHTS),
        ([], [], ChainErrorCode.INVALID_WEIGHTS),
    ],
)
def test_malformed_weight_vectors_never_reach_the_chain(net, wallets, uids, weights, expected):
    fake, chain, netuid = net
    result = chain.set_weights(wallets["validator"], netuid, uids, weights, 0)
    assert not result.ok and result.error is expected
    assert fake.submitted == []


def test_commit_reveal_subnet_commits_timelocked_weights(net, wallets):
    fake, chain, netuid = net
    fake.set_hyperparameter(netuid, "commit_reveal_weights_enabled", True)
    result = chain.set_weights(wallets["validator"], netuid, [1, 2], [0.5, 0.5], 3)
    assert result.ok, result.message
    assert fake.submitted[-1][1] == "commit_timelocked_mechanism_weights"
    assert result.data["reveal_round"] > 0
    assert chain.weights(netuid) == {}  # nothing is visible until the chain reveals it
    again = chain.set_weights(wallets["validator"], netuid, [1, 2], [0.5, 0.5], 3)
    assert again.error is ChainErrorCode.WEIGHTS_RATE_LIMITED  # commits share the rate limit


def test_wallet_shaped_objects_sign_too(net):
    fake, chain, netuid = net

    class DevWallet:
        coldkey = coldkeypub = Keypair.create_from_uri("//Bob")
        hotkey = Keypair.create_from_uri("//Bob//hot")

    fake.register(DevWallet.hotkey.ss58_address, DevWallet.coldkey.ss58_address, netuid)
    assert chain.commit(DevWallet(), netuid, "dev").ok
    assert chain.commitments(netuid)[DevWallet.hotkey.ss58_address].data == "dev"


# ---------------------------------------------------------------------------- deadlines and reconnects


def test_a_read_that_never_answers_becomes_unavailable_within_the_deadline(net):
    fake, chain, _ = net
    assert chain.block() == 1
    fake.hang_reads = True
    started = time.monotonic()
    with pytest.raises(ChainUnavailable, match="retry later"):
        chain.metagraph(1)
    elapsed = time.monotonic() - started
    assert elapsed < READ_TIMEOUT_S + 5  # bounded: the read did not hang
    assert chain.reconnects == 1
    fake.hang_reads = False
    assert chain.block() == fake.block
    assert fake.connects == 2  # a fresh connection was opened


def test_a_wedged_event_loop_is_abandoned(net):
    fake, chain, _ = net
    assert chain.block() == 1
    release = threading.Event()
    fake.block_reads_until = release
    try:
        with pytest.raises(ChainUnavailable):
            chain.block()
    finally:
        fake.block_reads_until = None
        release.set()
    assert chain.block() == fake.block  # served by a new loop


def test_a_dropped_connection_is_reopened(net):
    fake, chain, _ = net
    assert chain.block() == 1
    fake.fail_reads = 1
    with pytest.raises(ChainUnavailable, match="unreachable"):
        chain.block()
    assert chain.block() == 1
    assert fake.connects == 2


def test_a_write_without_an_answer_is_reported_not_raised(net, wallets):
    fake, chain, netuid = net
    fake.hang_submits = True
    result = chain.commit(wallets["miner"], netuid, "hello")
    assert not result.ok and result.error is ChainErrorCode.UNAVAILABLE and result.error.is_transient
    fake.hang_submits = False
    assert chain.commit(wallets["miner"], netuid, "hello").ok


# ---------------------------------------------------------------------------- the real websocket transport


def test_real_transport_connection_refused_is_unavailable():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    chain = SubtensorChain(f"ws://127.0.0.1:{port}", read_timeout_s=5)
    try:
        with pytest.raises(ChainUnavailable, match="unreachable"):
            chain.block()
    finally:
        chain.close()


def test_real_transport_to_a_silent_node_is_bounded():
    """A node that accepts the TCP connection and then never answers (a half-dead websocket)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(server.accept()[0]) for _ in range(2)], daemon=True).start()
    chain = SubtensorChain(f"ws://127.0.0.1:{server.getsockname()[1]}", read_timeout_s=READ_TIMEOUT_S)
    try:
        for _ in range(2):  # the second call reconnects instead of queueing behind the first
            started = time.monotonic()
            with pytest.raises(ChainUnavailable, match="no answer"):
                chain.metagraph(1)
            assert time.monotonic() - started < READ_TIMEOUT_S + 5
        assert chain.reconnects == 2
    finally:
        chain.close()
        server.close()
        for conn in accepted:
            conn.close()


def test_threads_share_one_connection(net):
    fake, chain, netuid = net
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(chain.metagraph(netuid).n)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [3] * 8
    assert fake.connects == 1
