"""The miner daemon: a round that wins submits; a round that does not beat the chain's best does not."""

from __future__ import annotations

import dataclasses
import json
import os

from flock_subnet.config import WandbSettings
from flock_subnet.miner.daemon import Miner
from flock_subnet.miner.training import TrainConfig
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import LOCAL
from tests.fixtures.chain import NETUID


def test_daemon_submits_only_improvements(tmp_path, monkeypatch, local_chain, local_hub, miner_wallet, tiny_model_dir, model_cache_dir):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("FLOCK_HEARTBEAT", str(tmp_path / "miner.heartbeat"))
    template = TrainConfig(
        output_dir=tmp_path / "unused", init_model_dir=tiny_model_dir, num_samples=256, batch_tokens=1024,
        lr=3e-3, warmup_steps=2, max_steps=6, save_every=3, device="cpu", progress_bar=False,
    )
    miner = Miner(
        local_chain, local_hub.client("alice"), miner_wallet, NETUID, LOCAL, tmp_path / "miner", "alice/daemon", template,
        wandb_settings=WandbSettings(directory=str(tmp_path / "wandb")), sandbox=False, cache_dir=model_cache_dir,
    )
    try:
        first = miner.run_round()
        assert first.submitted, first.decision
        assert first.best_loss is None and first.loss is not None
        committed = protocol.decode(local_chain.commitments(NETUID)[miner_wallet.hotkey.ss58_address].data)
        assert committed.revision == first.submission["revision"]

        # The next round continues from that model but cannot improve it (learning rate 0).
        miner.train_config = dataclasses.replace(template, lr=0.0)
        local_chain.advance(1)
        second = miner.run_round()
    finally:
        miner.close()
    assert not second.submitted
    assert second.best_hotkey == miner_wallet.hotkey.ss58_address
    assert second.loss == second.best_loss
    assert "does not beat" in second.decision
    assert protocol.decode(local_chain.commitments(NETUID)[miner_wallet.hotkey.ss58_address].data) == committed

    state = json.loads((tmp_path / "miner" / "miner_state.json").read_text())
    assert state["round"] == 2 and len(state["submissions"]) == 1
    rounds = tmp_path / "miner" / "rounds"
    assert state["last_model"] == str(rounds / "round-0002" / "model")
    assert state["submissions"][0]["model_dir"] == str(rounds / "round-0001" / "model")
    for kept in ("round-0001", "round-0002"):  # the submitted model and the newest one; training states pruned
        assert (rounds / kept / "model" / "model.safetensors").is_file()
        assert not (rounds / kept / "checkpoints").exists()
    beat = json.loads((tmp_path / "miner.heartbeat").read_text())  # what the pm2 watchdog reads
    assert beat["beats"] >= 1 and beat["pid"] == os.getpid()

    runs = list((tmp_path / "wandb").rglob("offline-run-*"))
    assert runs, "the daemon should write an offline W&B run"
