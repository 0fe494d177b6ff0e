"""Two real processes write to one chain file at the same time: nothing is lost or corrupted."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures.chain import NETUID, register_neuron, register_validator

WORKER = Path(__file__).with_name("chain_worker.py")
ROUNDS = 30


def test_two_processes_commit_set_weights_and_stake_concurrently(local_chain, chain_owner, make_wallet, wallet_path, tmp_path):
    chain = local_chain
    v1, v2, miner, pool = make_wallet("v1"), make_wallet("v2"), make_wallet("miner"), make_wallet("pool")
    register_validator(chain, v1)
    register_validator(chain, v2)
    miner_uid = register_neuron(chain, miner)
    # subnet 2 without epochs holds a stake counter both processes increment
    chain.create_subnet(chain_owner, 2, tempo=0, burn=0)
    chain.register(pool, 2)
    for wallet in (v1, v2):
        chain.fund(wallet.coldkeypub.ss58_address, ROUNDS * 1000)
    issuance_before = chain.total_issuance()
    start_block = chain.block()

    start = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(chain.path), str(wallet_path), name, str(miner_uid),
             pool.hotkey.ss58_address, str(ROUNDS), str(start), *(["advance"] if name == "v1" else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("v1", "v2")
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{start}.{name}.ready").exists() for name in ("v1", "v2")):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "workers did not start"
        time.sleep(0.01)
    start.touch()
    summaries = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    timings = [{"started": s["started"], "finished": s["finished"]} for s in summaries]

    for summary in summaries:
        summary.pop("started"), summary.pop("finished")
        assert summary == {"commits": ROUNDS, "weights": ROUNDS, "stakes": ROUNDS, "errors": []}
    overlap = min(s["finished"] for s in timings) - max(s["started"] for s in timings)
    print(f"workers overlapped for {overlap:.3f} s of {max(s['finished'] - s['started'] for s in timings):.3f} s")
    commitments = chain.commitments(NETUID)
    for name, wallet in (("v1", v1), ("v2", v2)):
        assert commitments[wallet.hotkey.ss58_address].data == f"{name}-{ROUNDS - 1}"
        assert chain.stake_of(wallet.coldkeypub.ss58_address, pool.hotkey.ss58_address, 2) == ROUNDS * 1000
        assert chain.balance(wallet.coldkeypub.ss58_address) == 0
    mg = chain.metagraph(NETUID)
    rows = chain.weights(NETUID)
    for wallet in (v1, v2):
        assert rows[mg.uid_of(wallet.hotkey.ss58_address)] == {miner_uid: 1.0}

    # v1 advanced one block per round; every epoch on the way ran exactly once, at its block
    assert chain.block() == start_block + ROUNDS
    tempo = chain.hyperparameters(NETUID).tempo
    blocks = [record.block for record in chain.epoch_history(NETUID)]
    assert blocks == list(range(tempo, chain.block() + 1, tempo))
    minted = sum(record.minted for record in chain.epoch_history(NETUID) if record.block > start_block)
    assert chain.total_issuance() == issuance_before + minted
    held = sum(a for netuid in (NETUID, 2) for _, _, a in chain.stakes(netuid))
    coldkeys = {w.coldkeypub.ss58_address for w in (chain_owner, v1, v2, miner, pool)}
    assert held + sum(chain.balance(c) for c in coldkeys) == chain.total_issuance()
    with sqlite3.connect(chain.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
