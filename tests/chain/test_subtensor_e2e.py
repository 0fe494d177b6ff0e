"""SubtensorChain against a real subtensor node (opt-in).

Start one with `bash scripts/localnet.sh`, then run what it prints:

    FLOCK_E2E_ENDPOINT=ws://127.0.0.1:9944 FLOCK_E2E_NETUID=2 \
    FLOCK_E2E_WALLET_PATH=.flock/localnet/wallets .venv/bin/python -m pytest tests/chain -m e2e -q

Reads need only the endpoint; the writes use the `validator` and `miner` wallets the script
registered (skipped without FLOCK_E2E_WALLET_PATH).
"""

from __future__ import annotations

import os
import re
import time

import pytest

from flock_subnet.chain.base import ChainError, ChainErrorCode
from flock_subnet.chain.subtensor import SubtensorChain

ENDPOINT = os.environ.get("FLOCK_E2E_ENDPOINT", "")
NETUID = int(os.environ.get("FLOCK_E2E_NETUID", "2"))
WALLETS = os.environ.get("FLOCK_E2E_WALLET_PATH", "")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not ENDPOINT, reason="set FLOCK_E2E_ENDPOINT (see scripts/localnet.sh) to run against a node"),
]
needs_wallets = pytest.mark.skipif(not WALLETS, reason="set FLOCK_E2E_WALLET_PATH to the localnet wallets")


@pytest.fixture(scope="module")
def chain():
    chain = SubtensorChain(ENDPOINT, read_timeout_s=30, write_timeout_s=180)
    yield chain
    chain.close()


def wallet(name: str):
    import bittensor as bt

    return bt.Wallet(name=name, hotkey="default", path=WALLETS)


def wait_blocks(chain: SubtensorChain, blocks: int, timeout_s: float = 600) -> int:
    target = chain.block() + blocks
    deadline = time.monotonic() + timeout_s
    while (now := chain.block()) < target:
        assert time.monotonic() < deadline, f"the node did not reach block {target}"
        time.sleep(0.25)
    return now


def test_blocks_hashes_metagraph_hyperparameters(chain):
    start = chain.block()
    now = wait_blocks(chain, 1)
    assert now > start
    assert re.fullmatch(r"0x[0-9a-f]{64}", chain.block_hash(start))
    assert chain.block_hash(start) == chain.block_hash(start)
    with pytest.raises(ChainError):
        chain.block_hash(now + 10_000)
    params = chain.hyperparameters(NETUID)
    assert params.tempo > 0 and params.owner_hotkey
    graph = chain.metagraph(NETUID)
    assert graph.by_hotkey(params.owner_hotkey) is not None
    assert all(isinstance(n.stake, int) for n in graph.neurons)
    assert isinstance(chain.commitments(NETUID), dict)
    assert isinstance(chain.weights(NETUID), dict)
    with pytest.raises(ChainError) as info:
        chain.metagraph(4000)
    assert info.value.code is ChainErrorCode.SUBNET_NOT_FOUND


@needs_wallets
def test_commitment_round_trip(chain):
    miner = wallet("miner")
    text = f"f1:local:miner/e2e:{int(time.time())}"
    result = chain.commit(miner, NETUID, text)
    assert result.ok, result.message
    record = chain.commitments(NETUID)[miner.hotkey.ss58_address]
    assert record.data == text and record.block <= chain.block()


@needs_wallets
def test_set_weights_and_refusals(chain, tmp_path):
    from flock_subnet.chain.wallets import create_wallet

    validator, miner = wallet("validator"), wallet("miner")
    graph = chain.metagraph(NETUID)
    miner_uid = graph.uid_of(miner.hotkey.ss58_address)
    assert miner_uid is not None
    params = chain.hyperparameters(NETUID)
    for _ in range(3):
        result = chain.set_weights(validator, NETUID, [miner_uid], [1.0], params.weights_version)
        if result.ok or result.error is not ChainErrorCode.WEIGHTS_RATE_LIMITED:
            break
        wait_blocks(chain, result.retry_after_blocks or 1)
    assert result.ok, result.message
    if params.commit_reveal_enabled:
        assert result.data.get("reveal_round") and result.data.get("committed") is True
    else:
        assert miner_uid in chain.weights(NETUID)[graph.uid_of(validator.hotkey.ss58_address)]

    stranger = create_wallet("stranger", path=tmp_path)
    refused = chain.set_weights(stranger, NETUID, [miner_uid], [1.0], params.weights_version)
    assert refused.error is ChainErrorCode.NOT_REGISTERED
