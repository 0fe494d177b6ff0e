"""The `Chain` port contract, run against `SubtensorChain` on the bittensor SDK with a fake node.

Registration goes through the SDK as a real coldkey-signed `burned_register` extrinsic; stake and
hyperparameters are set on the fake directly (what `btcli stake add` / `btcli sudo set` would do
on a localnet).
"""

from __future__ import annotations

from typing import Any

import bittensor as bt
import pytest

from flock_subnet.chain.subtensor import SubtensorChain
from tests.chain.chain_contract import VALIDATOR_STAKE, ChainContract, ChainHarness
from tests.chain.chain_contract_inputs import OddInputContract
from tests.chain.fake_substrate import FakeSubstrate
from tests.chain.fake_timelock import transparent_timelock

# port names (`Hyperparameters` fields) -> the chain's hyperparameter names
_CHAIN_NAMES = {
    "max_weight_limit": "max_weights_limit",
    "commit_reveal_enabled": "commit_reveal_weights_enabled",
    "max_allowed_validators": "max_validators",
    "reveal_period_epochs": "commit_reveal_period",
}


class FakeSubtensorHarness(ChainHarness):
    def __init__(self, make_wallet: Any, owner: Any) -> None:
        self.fake = FakeSubstrate()
        self.owner = owner
        self.netuid = self.fake.create_subnet(
            owner.hotkey.ss58_address,
            owner.coldkeypub.ss58_address,
            commit_reveal_weights_enabled=False,
            weights_rate_limit=0,
            weights_version=0,
            tempo=10,
        )
        self.chain = SubtensorChain("local", substrate=self.fake, read_timeout_s=10, write_timeout_s=10)
        self._admin = bt.Subtensor("local", substrate=self.fake)  # the "btcli" of this chain
        self._make_wallet = make_wallet

    def close(self) -> None:
        self.chain.close()
        self._admin.close()

    def new_wallet(self, name: str) -> Any:
        return self._make_wallet(name)

    def register(self, wallet: Any) -> int:
        coldkey = wallet.coldkeypub.ss58_address
        self.fake.balances[coldkey] = self.fake.balances.get(coldkey, 0) + int(
            self.fake.subnets[self.netuid].hyper["min_burn"]
        )
        call = bt.calls.SubtensorModule.burned_register(netuid=self.netuid, hotkey=wallet.hotkey.ss58_address)
        self._admin.submit_call(call, wallet, wait_for_finalization=False).raise_for_failure()
        uid = self._admin.neurons.uid(wallet.hotkey.ss58_address, self.netuid)
        assert uid is not None
        return int(uid)

    def register_validator(self, wallet: Any, stake_rao: int = VALIDATOR_STAKE) -> int:
        uid = self.register(wallet)
        self.fake.add_stake(wallet.hotkey.ss58_address, self.netuid, stake_rao)
        return uid

    def advance(self, blocks: int) -> None:
        self.fake.advance(blocks)

    def set_hyperparameter(self, name: str, value: Any) -> None:
        self.fake.set_hyperparameter(self.netuid, _CHAIN_NAMES.get(name, name), value)


class TestSubtensorChainContract(ChainContract):
    @pytest.fixture
    def harness(self, make_wallet: Any, chain_owner: Any) -> ChainHarness:
        with transparent_timelock():
            harness = FakeSubtensorHarness(make_wallet, chain_owner)
            yield harness
            harness.close()


class TestSubtensorChainOddInputs(OddInputContract):
    @pytest.fixture
    def harness(self, make_wallet: Any, chain_owner: Any) -> ChainHarness:
        harness = FakeSubtensorHarness(make_wallet, chain_owner)
        yield harness
        harness.close()
