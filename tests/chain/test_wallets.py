"""Wallet helpers: real keys on disk, no prompts, idempotent, clear errors."""

from __future__ import annotations

import json

import pytest

from flock_subnet.chain.wallets import WalletNotFound, create_wallet, load_wallet, wallet_exists
from flock_subnet.config import WalletSettings


def test_create_wallet_writes_the_standard_layout_without_a_password(tmp_path):
    wallet = create_wallet("alice", "hot", path=tmp_path)
    base = tmp_path / "alice"
    assert (base / "coldkey").is_file() and (base / "coldkeypub.txt").is_file()
    assert (base / "hotkeys" / "hot").is_file() and (base / "hotkeys" / "hotpub.txt").is_file()
    public = json.loads((base / "coldkeypub.txt").read_text())
    assert public["ss58Address"] == wallet.coldkeypub.ss58_address
    # readable without a password, and the coldkey really signs for its address
    signature = wallet.coldkey.sign(b"message")
    from bittensor.sp_core import Keypair

    assert Keypair(ss58_address=wallet.coldkeypub.ss58_address).verify(b"message", signature)
    assert wallet_exists("alice", "hot", path=tmp_path)


def test_create_wallet_is_idempotent_and_adds_missing_hotkeys(tmp_path):
    first = create_wallet("bob", path=tmp_path)
    again = create_wallet("bob", path=tmp_path)
    assert again.coldkeypub.ss58_address == first.coldkeypub.ss58_address
    assert again.hotkey.ss58_address == first.hotkey.ss58_address
    second_hotkey = create_wallet("bob", "other", path=tmp_path)
    assert second_hotkey.coldkeypub.ss58_address == first.coldkeypub.ss58_address
    assert second_hotkey.hotkey.ss58_address != first.hotkey.ss58_address


def test_load_wallet_opens_existing_and_explains_missing(tmp_path):
    created = create_wallet("carol", "h1", path=tmp_path)
    loaded = load_wallet(WalletSettings(name="carol", hotkey="h1", path=str(tmp_path)))
    assert loaded.hotkey.ss58_address == created.hotkey.ss58_address
    with pytest.raises(WalletNotFound, match="localnet wallet --wallet.name nobody"):
        load_wallet(WalletSettings(name="nobody", hotkey="default", path=str(tmp_path)))
    with pytest.raises(WalletNotFound, match="has no hotkey 'h2'"):
        load_wallet(WalletSettings(name="carol", hotkey="h2", path=str(tmp_path)))
