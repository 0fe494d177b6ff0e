"""A small subnet for validator tests: local chain, local hub, miners that publish and commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flock_subnet.models import checkpoint
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.validator.faults import Backoff
from flock_subnet.validator.service import Validator, ValidatorConfig
from tests.fixtures.chain import NETUID, register_neuron, register_validator

EVAL_SAMPLES = 24  # enough to rank the test models apart, a quarter of a production round


@pytest.fixture(scope="session")
def miner_models(tmp_path_factory, local_base_dir, model_cache_dir) -> dict[str, Path]:
    """Three different checkpoints of the `local` competition: the base, a short and a longer fine-tune."""
    from flock_subnet.miner.training import TrainConfig, train

    root = tmp_path_factory.mktemp("miner-models")

    def fine_tune(name: str, steps: int, seed: int) -> Path:
        config = TrainConfig(
            output_dir=root / name, competition="local", max_steps=steps, num_samples=96, lr=3e-3,
            warmup_steps=1, batch_tokens=2048, seed=seed, data_seed=seed, cache_dir=model_cache_dir,
            progress_bar=False, save_every=0,
        )
        return train(config).output_dir

    return {"base": local_base_dir, "fair": fine_tune("fair", 2, 1), "good": fine_tune("good", 6, 2)}


def fast_config(cache_dir: Path, **overrides: Any) -> ValidatorConfig:
    fast = Backoff(attempts=3, base_s=0.02, max_s=0.1)
    values: dict[str, Any] = dict(
        eval_timeout_s=180.0, eval_samples=EVAL_SAMPLES, poll_interval_s=0.1, chain_backoff=fast,
        hub_backoff=fast, eval_backoff=Backoff(attempts=2, base_s=0.02, max_s=0.1), cache_dir=cache_dir,
    )
    values.update(overrides)
    return ValidatorConfig(**values)


@dataclass
class Subnet:
    """Subnet 1 on a local chain with a local hub; helpers to register, publish and commit."""

    chain: Any
    hub: Any  # the LocalHub fixture object
    make_wallet: Any
    wallet_path: Path
    cache_dir: Path
    wallets: dict[str, Any] = field(default_factory=dict)
    uids: dict[str, int] = field(default_factory=dict)

    def add_validator(self, name: str) -> int:
        self.wallets[name] = self.make_wallet(name)
        self.uids[name] = register_validator(self.chain, self.wallets[name])
        return self.uids[name]

    def add_miner(self, name: str) -> int:
        self.wallets[name] = self.make_wallet(name)
        self.uids[name] = register_neuron(self.chain, self.wallets[name])
        return self.uids[name]

    def publish(self, name: str, user: str, model_dir: Path, repo_name: str, salted_for: str | None = None) -> str:
        """Upload as `user`, make public, commit the reference under miner `name`'s hotkey.

        `salted_for` commits the hash salted with another miner's hotkey (what a careless copier does).
        """
        client = self.hub.client(user)
        repo_id = f"{user}/{repo_name}"
        sha = client.upload(model_dir, repo_id, private=True)
        client.set_private(repo_id, False)
        hotkey = self.wallets[salted_for or name].hotkey.ss58_address
        salted = checkpoint.salted_hash(checkpoint.content_hash(model_dir), hotkey)
        return self.commit(name, protocol.encode(protocol.ModelReference(repo_id, sha, salted, LOCAL.id)))

    def commit(self, name: str, text: str) -> str:
        self.chain.commit(self.wallets[name], NETUID, text).raise_for_error()
        return text

    def advance_to_next_round(self) -> int:
        """Move to the first round start at which every commitment made so far is eligible."""
        block = self.chain.block()
        target = ((block + LOCAL.eval_delay_blocks) // LOCAL.round_length_blocks + 1) * LOCAL.round_length_blocks
        self.chain.advance_to(target)
        return target

    def validator(self, name: str, workdir: Path, wandb_settings: Any = None, **overrides: Any) -> Validator:
        return Validator(
            self.chain, self.hub.client(None), self.wallets[name], NETUID, [LOCAL], workdir,
            wandb_settings=wandb_settings, config=fast_config(self.cache_dir, **overrides),
        )


@pytest.fixture
def make_subnet(make_local_chain, local_hub, make_wallet, wallet_path, model_cache_dir):
    def make(**hyperparameters: Any) -> Subnet:
        chain = make_local_chain("subnet", **hyperparameters)
        return Subnet(chain, local_hub, make_wallet, wallet_path, model_cache_dir)

    return make
