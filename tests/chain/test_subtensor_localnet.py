"""The lookups scripts/localnet.sh makes, against the fake node."""

from __future__ import annotations

import threading

from flock_subnet.chain.subtensor import SubtensorChain
from flock_subnet.chain.subtensor_localnet import main, subnet_owned_by, wait_for_node, wallet_ss58
from flock_subnet.chain.wallets import create_wallet
from tests.chain.fake_substrate import FakeSubstrate


def test_wallet_addresses_come_from_the_public_files(tmp_path, capsys):
    wallet = create_wallet("owner", path=tmp_path)
    assert wallet_ss58(tmp_path, "owner", "coldkey") == wallet.coldkeypub.ss58_address
    assert wallet_ss58(tmp_path, "owner", "hotkey") == wallet.hotkey.ss58_address
    assert main(["ss58", str(tmp_path), "owner", "hotkey"]) == 0
    assert capsys.readouterr().out.strip() == wallet.hotkey.ss58_address


def test_subnet_lookup_and_wait():
    fake = FakeSubstrate()
    fake.create_subnet("5Hot", "5Cold")
    mine = fake.create_subnet("5Hot2", "5Mine")
    chain = SubtensorChain("local", substrate=fake, read_timeout_s=5)
    try:
        assert subnet_owned_by(chain, "5Mine") == mine
        assert subnet_owned_by(chain, "5Nobody") is None
        timer = threading.Timer(0.2, fake.advance, args=(2,))
        timer.start()
        assert wait_for_node(chain, timeout_s=10, poll_s=0.05) == 3
        timer.join()
    finally:
        chain.close()
