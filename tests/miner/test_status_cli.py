"""`miner status` and `miner submit` as a user runs them: real subprocesses on the chain file and the hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flock_subnet.miner.daemon import miner_status, submit_model
from flock_subnet.rules.competitions import LOCAL
from tests.fixtures.chain import NETUID, register_validator


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flock_subnet", *args], capture_output=True, text=True, timeout=180, env={**os.environ, **env}
    )


def test_status_shows_the_commitment_the_weights_and_the_incentive(
    local_chain, local_hub, miner_wallet, make_wallet, model_copy, model_cache_dir
):
    submitted = submit_model(local_chain, local_hub.client("alice"), miner_wallet, NETUID, model_copy, "alice/m", LOCAL, cache_dir=model_cache_dir)
    validator = make_wallet("val")
    vuid = register_validator(local_chain, validator)
    version = local_chain.hyperparameters(NETUID).weights_version
    assert local_chain.set_weights(validator, NETUID, [submitted.uid], [1.0], version).ok
    local_chain.advance_to(local_chain.next_epoch_block(NETUID))

    status = miner_status(local_chain, NETUID, miner_wallet.hotkey.ss58_address)
    assert status.registered and status.uid == submitted.uid
    assert status.reference["repo_id"] == "alice/m" and status.reference["revision"] == submitted.revision
    assert status.commit_block == submitted.commit_block
    views = {v.uid: v for v in status.validators}
    assert views[vuid].weight > 0.99 and views[vuid].share > 0.99
    assert status.incentive > 0 and status.emission > 0


def test_submit_and_status_commands(local_chain, local_hub, make_wallet, wallet_path, model_copy, model_cache_dir):
    from tests.fixtures.chain import register_neuron

    wallet = make_wallet("alice")
    register_neuron(local_chain, wallet)
    flags = [
        "--netuid", str(NETUID), "--wallet.name", "alice", "--wallet.path", str(wallet_path),
        "--subtensor.chain_endpoint", f"file://{local_chain.path}", "--wandb.off",
    ]
    env = {**local_hub.env("alice"), "FLOCK_CACHE_DIR": str(model_cache_dir)}
    done = _cli("miner", "submit", str(model_copy), "--repo", "alice/cli-model", "--competition", "local", "--skip-eval", "--json", *flags, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    submitted = json.loads(done.stdout)
    assert submitted["repo_id"] == "alice/cli-model" and len(submitted["revision"]) == 40

    shown = _cli("miner", "status", "--json", *flags, env=env)
    assert shown.returncode == 0, shown.stderr[-3000:]
    status = json.loads(shown.stdout)
    assert status["registered"] and status["reference"]["revision"] == submitted["revision"]



def test_eval_table_names_each_task_loss(model_copy, model_cache_dir, make_wallet, capsys):
    from flock_subnet.cli import main

    hotkey = make_wallet("alice").hotkey.ss58_address
    args = ["miner", "eval", str(model_copy), "--competition", "local", "--hotkey", hotkey, "--seed", "5", "--in-process"]
    assert main([*args, "--cache-dir", str(model_cache_dir)]) == 0
    table = capsys.readouterr().out
    for task in LOCAL.tasks:
        assert f"loss[{task}]" in table, table
