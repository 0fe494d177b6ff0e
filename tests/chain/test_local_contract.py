"""The `Chain` port contract, run against the local chain."""

from __future__ import annotations

from typing import Any

import pytest

from flock_subnet.kit.localchain.chain import LocalChain
from tests.chain.chain_contract import VALIDATOR_STAKE, ChainContract, ChainHarness
from tests.chain.chain_contract_inputs import OddInputContract
from tests.fixtures.chain import NETUID, register_neuron


class LocalHarness(ChainHarness):
    def __init__(self, chain: LocalChain, owner: Any, make_wallet: Any) -> None:
        self.chain = chain
        self.netuid = NETUID
        self.owner = owner
        self._make_wallet = make_wallet

    def new_wallet(self, name: str) -> Any:
        return self._make_wallet(name)

    def register(self, wallet: Any) -> int:
        return register_neuron(self.chain, wallet, self.netuid)

    def register_validator(self, wallet: Any, stake_rao: int = VALIDATOR_STAKE) -> int:
        return register_neuron(self.chain, wallet, self.netuid, stake_rao=stake_rao, wait_for_permit=True)

    def advance(self, blocks: int) -> None:
        self.chain.advance(blocks)

    def set_hyperparameter(self, name: str, value: Any) -> None:
        self.chain.set_hyperparameter(self.owner, self.netuid, name, value)


class TestLocalChainContract(ChainContract):
    @pytest.fixture
    def harness(self, local_chain: LocalChain, chain_owner: Any, make_wallet: Any) -> ChainHarness:
        return LocalHarness(local_chain, chain_owner, make_wallet)


class TestLocalChainOddInputs(OddInputContract):
    @pytest.fixture
    def harness(self, local_chain: LocalChain, chain_owner: Any, make_wallet: Any) -> ChainHarness:
        return LocalHarness(local_chain, chain_owner, make_wallet)
