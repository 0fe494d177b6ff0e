"""Serving test helpers: a served micro model, an in-process server, and a subnet with committed models."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flock_subnet.models import checkpoint
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.serve.factory import EngineOptions, build_served
from flock_subnet.serve.generation import EngineLimits
from flock_subnet.serve.server import RunningServer, ServeApp, ServerConfig, make_server
from flock_subnet.serve.slot import ModelSlot, ServedModel
from tests.fixtures.chain import NETUID, register_neuron, register_validator


@pytest.fixture(scope="session")
def second_model_dir(tmp_path_factory) -> Path:
    """Another micro model (seed 1): different weights, the same tokenizer."""
    from flock_subnet.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("serve-micro-1") / "model", preset="micro", seed=1)


def served(folder: Path, name: str, **limits: Any) -> ServedModel:
    return build_served(folder, name, EngineOptions(device="cpu", limits=EngineLimits(**limits)))


@pytest.fixture
def micro(tiny_model_dir) -> Iterator[ServedModel]:
    model = served(tiny_model_dir, "micro")
    yield model
    model.engine.close()


@contextmanager
def running(slot: ModelSlot, **config: Any) -> Iterator[RunningServer]:
    """An in-process server for `slot` on a free loopback port; the slot is closed afterwards."""
    server = make_server(ServeApp(slot, ServerConfig(**config)), "127.0.0.1", 0).start()
    try:
        yield server
    finally:
        server.stop()
        slot.close()


def openai_client(server: RunningServer, key: str = "unused", **kwargs: Any) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, **kwargs)


@dataclass
class ServeSubnet:
    """Subnet 1 on the local chain, with the local hub: miners publish and commit, a validator weights them."""

    chain: Any
    hub: Any  # the LocalHub fixture object
    make_wallet: Any
    wallets: dict[str, Any] = field(default_factory=dict)
    uids: dict[str, int] = field(default_factory=dict)
    revisions: dict[str, str] = field(default_factory=dict)

    def add_validator(self, name: str = "validator") -> int:
        self.wallets[name] = self.make_wallet(name)
        self.uids[name] = register_validator(self.chain, self.wallets[name])
        return self.uids[name]

    def publish(self, name: str, model_dir: Path, salted_for: str | None = None) -> protocol.ModelReference:
        """Register miner `name`, upload `model_dir` publicly as alice/<name>, commit it for `local`."""
        self.wallets[name] = self.make_wallet(name)
        self.uids[name] = register_neuron(self.chain, self.wallets[name])
        client = self.hub.client("alice")
        repo_id = f"alice/{name}"
        sha = client.upload(model_dir, repo_id, private=False)
        self.revisions[name] = sha
        hotkey = self.wallets[salted_for or name].hotkey.ss58_address
        salted = checkpoint.salted_hash(checkpoint.content_hash(model_dir), hotkey)
        reference = protocol.ModelReference(repo_id, sha, salted, LOCAL.id)
        self.chain.commit(self.wallets[name], NETUID, protocol.encode(reference)).raise_for_error()
        return reference

    def reward(self, name: str, validator: str = "validator") -> None:
        """The validator puts all its weight on `name`; the next epoch turns that into incentive.

        One block passes first: the chain ignores weights set in the block a miner registered in.
        """
        self.chain.advance(1)
        version = self.chain.hyperparameters(NETUID).weights_version
        result = self.chain.set_weights(self.wallets[validator], NETUID, [self.uids[name]], [1.0], version)
        result.raise_for_error()
        self.chain.advance_to(self.chain.next_epoch_block(NETUID))

    def model_id(self, name: str) -> str:
        return f"local/uid{self.uids[name]}@{self.revisions[name][:7]}"


@pytest.fixture
def serve_subnet(local_chain, local_hub, make_wallet) -> ServeSubnet:
    return ServeSubnet(local_chain, local_hub, make_wallet)


@pytest.fixture
def serve_cache(tmp_path, model_cache_dir) -> Path:
    """A cache folder of this test's own that reuses the session's built base model."""
    cache = tmp_path / "serve-cache"
    cache.mkdir()
    (cache / "tiny").symlink_to(model_cache_dir / "tiny", target_is_directory=True)
    return cache


def copy_model(source: Path, dest: Path) -> Path:
    return Path(shutil.copytree(source, dest))
