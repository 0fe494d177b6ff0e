"""A demo-shaped subnet built once for the leaderboard tests (a few seconds, no models trained).

`sample` is a `kit.demo.sample.Sample`: a local chain with the demo's cast, two validators'
state files, and its `DemoRun`; `results` is that run as the demo's `--json`.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from flock_subnet.kit.demo.board import local_chain_extras
from flock_subnet.kit.demo.report import build_results
from flock_subnet.kit.demo.run import NETUID
from flock_subnet.kit.demo.sample import HUB_URL, Sample, build_sample
from flock_subnet.kit.localchain.chain import LocalChain
from flock_subnet.leaderboard.gather import BoardSource

ROUNDS = 12


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return build_sample(tmp_path_factory.mktemp("leaderboard") / "subnet", rounds=ROUNDS)


@pytest.fixture(scope="session")
def results(sample: Sample) -> dict[str, Any]:
    return build_results(sample.run)


@pytest.fixture
def make_source(sample: Sample):
    """Factory: a `BoardSource` over the sample's chain, with validator-0's state unless told otherwise."""
    chains: list[LocalChain] = []

    def make(state_location: Any = "validator-0", **overrides: Any) -> BoardSource:
        chain = LocalChain.open(sample.chain_path)
        chains.append(chain)
        location = sample.state_paths[state_location] if state_location in sample.state_paths else state_location
        values: dict[str, Any] = dict(
            chain=chain, netuid=NETUID, hub_url=HUB_URL, chain_label=f"local chain {sample.chain_path}",
            state_location=location, extras=functools.partial(local_chain_extras, netuid=NETUID),
        )
        values.update(overrides)
        return BoardSource(**values)

    yield make
    for chain in chains:
        chain.close()


def state_copy(sample: Sample, folder: Path) -> Path:
    """A copy of validator-0's state file (with its WAL folded in) that a test may lock or damage."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "state.db"
    source = sqlite3.connect(str(sample.state_paths["validator-0"]))
    copy = sqlite3.connect(str(target))
    source.backup(copy)
    source.close()
    copy.close()
    return target
