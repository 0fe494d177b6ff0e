"""The wallet helper: real bittensor wallets on disk (created without prompts, loaded with clear
errors) and signature checks with their keys.

`create_wallet` writes the standard layout (`<path>/<name>/coldkey`, `coldkeypub.txt`,
`hotkeys/<hotkey>`, `hotkeys/<hotkey>pub.txt`) with unencrypted keys, so bots and tests never
wait for a password. It is idempotent: existing keys are reused, missing ones are created.
"""

from __future__ import annotations

from pathlib import Path

from flock_subnet.chain.base import Wallet
from flock_subnet.config import DEFAULT_WALLET_PATH, WalletSettings
from flock_subnet.errors import FlockError


class WalletNotFound(FlockError):
    """The wallet (or its hotkey) does not exist on disk."""


def _quiet(_mnemonic: str) -> None:
    """Keep mnemonics out of logs and stdout."""


def create_wallet(name: str, hotkey: str = "default", path: str | Path = DEFAULT_WALLET_PATH) -> Wallet:
    """Open `name`/`hotkey` under `path`, creating any missing coldkey or hotkey (no password).

    Returns a `bittensor.Wallet` whose `.hotkey`, `.coldkey` and `.coldkeypub` are readable
    without a prompt. Existing key files are never overwritten.
    """
    import bittensor as bt

    folder = str(Path(path).expanduser())
    wallet = bt.Wallet(name=name, hotkey=hotkey, path=folder)
    if not wallet.coldkeypub_file.exists_on_device():
        if wallet.coldkey_file.exists_on_device():
            raise WalletNotFound(
                f"wallet {name!r} in {folder} has a coldkey but no coldkeypub.txt; "
                f"regenerate it with `btcli wallet regen-coldkeypub -w {name} --wallet-path {folder}`"
            )
        wallet.create_new_coldkey(use_password=False, overwrite=False, on_mnemonic=_quiet)
    if not wallet.hotkey_file.exists_on_device():
        wallet.create_new_hotkey(use_password=False, overwrite=False, on_mnemonic=_quiet)
    return wallet


def wallet_exists(name: str, hotkey: str = "default", path: str | Path = DEFAULT_WALLET_PATH) -> bool:
    """Whether both the coldkey (public part) and the hotkey of this wallet are on disk."""
    base = Path(path).expanduser() / name
    return (base / "coldkeypub.txt").is_file() and (base / "hotkeys" / hotkey).is_file()


def load_wallet(settings: WalletSettings) -> Wallet:
    """Open the wallet named by `settings`; `WalletNotFound` says how to create it when missing."""
    import bittensor as bt

    folder = settings.expanded_path
    wallet_dir = folder / settings.name
    hint = (
        f"create it with `flock-subnet localnet wallet --wallet.name {settings.name} "
        f"--wallet.hotkey {settings.hotkey} --wallet.path {folder}` "
        f"(or `btcli wallet create -w {settings.name} -H {settings.hotkey} --wallet-path {folder}`)"
    )
    if not (wallet_dir / "coldkeypub.txt").is_file():
        raise WalletNotFound(f"no wallet {settings.name!r} in {folder}; {hint}")
    if not (wallet_dir / "hotkeys" / settings.hotkey).is_file():
        raise WalletNotFound(f"wallet {settings.name!r} in {folder} has no hotkey {settings.hotkey!r}; {hint}")
    return bt.Wallet(name=settings.name, hotkey=settings.hotkey, path=str(folder))


def verify_signature(ss58_address: str, payload: bytes, signature: bytes) -> bool:
    """True only if `signature` over `payload` is valid under the public key of `ss58_address`."""
    from bittensor.sp_core import Keypair

    try:
        return bool(Keypair(ss58_address=ss58_address).verify(payload, signature))
    except Exception:  # malformed address or signature: not a valid signature
        return False
