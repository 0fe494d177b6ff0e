"""The miner daemon under torchrun: both ranks train every round, rank 0 alone evaluates, submits and prints.

A real `python -m torch.distributed.run --nproc-per-node 2 -m flock_subnet miner run` subprocess
on CPU (gloo) against the local chain file and the local hub server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flock_subnet.rules import protocol
from tests.fixtures.chain import NETUID


def test_two_ranks_run_two_daemon_rounds_and_only_rank_0_submits(
    tmp_path, local_chain, local_hub, miner_wallet, wallet_path, tiny_model_dir, model_cache_dir
):
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "flock_subnet", "miner", "run", "--repo", "alice/tiny-sft", "--competition", "local",
        "--init-model", str(tiny_model_dir), "--cache-dir", str(model_cache_dir), "--num-samples", "64",
        "--batch-tokens", "1024", "--max-steps", "3", "--rounds", "2", "--max-wait", "0", "--in-process",
        "--device", "cpu", "--no-progress", "--json", "--workdir", str(tmp_path / "miner"),
        "--subtensor.chain_endpoint", f"file://{local_chain.path}", "--netuid", str(NETUID),
        "--wallet.path", str(wallet_path), "--wallet.name", "alice", "--wandb.off",
    ]
    env = {**os.environ, **local_hub.env("alice"), "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]  # both ranks left cleanly after the last round
    rounds = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["round"] for r in rounds] == [1, 2], "rank 0 alone prints one line per round"
    assert all(r["train"]["world_size"] == 2 and r["train"]["steps"] == 3 for r in rounds)
    first = rounds[0]
    assert first["submitted"], first["decision"]
    committed = protocol.decode(local_chain.commitments(NETUID)[miner_wallet.hotkey.ss58_address].data)
    assert committed.revision == first["submission"]["revision"]
    state = json.loads((tmp_path / "miner" / "miner_state.json").read_text())
    assert state["round"] == 2
