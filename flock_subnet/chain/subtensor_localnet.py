"""Small chain lookups for `scripts/localnet.sh`, which sets up a local subtensor with btcli.

    python -m flock_subnet.chain.subtensor_localnet wait   ws://127.0.0.1:9944 [--timeout 180]
    python -m flock_subnet.chain.subtensor_localnet ss58   WALLET_PATH NAME coldkey|hotkey
    python -m flock_subnet.chain.subtensor_localnet netuid ws://127.0.0.1:9944 OWNER_COLDKEY
    python -m flock_subnet.chain.subtensor_localnet uid    ws://127.0.0.1:9944 NETUID HOTKEY
    python -m flock_subnet.chain.subtensor_localnet stake  ws://127.0.0.1:9944 NETUID HOTKEY

Each prints one value (or nothing when there is none) so the shell can branch on it; every read
goes through `SubtensorChain`, so none of them can hang.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import bittensor as bt

from flock_subnet.chain.base import ChainError, ChainUnavailable
from flock_subnet.chain.subtensor import SubtensorChain


def wait_for_node(chain: SubtensorChain, timeout_s: float, poll_s: float = 2.0) -> int:
    """Block until the node answers and produces blocks; its current block, or `ChainUnavailable`."""
    deadline = time.monotonic() + timeout_s
    first: int | None = None
    while True:
        try:
            block = chain.block()
            if first is None:
                first = block
            elif block > first:
                return block
        except ChainUnavailable:
            pass
        if time.monotonic() > deadline:
            raise ChainUnavailable(
                f"{chain.endpoint} did not produce blocks within {timeout_s:g}s; "
                "check the container with `docker logs flock_localnet`"
            )
        time.sleep(poll_s)


def wallet_ss58(wallet_path: str | Path, name: str, key: str) -> str:
    """The ss58 address of a wallet's coldkey or default hotkey, from its public key file."""
    base = Path(wallet_path).expanduser() / name
    path = base / "coldkeypub.txt" if key == "coldkey" else base / "hotkeys" / "default"
    if key == "hotkey" and (base / "hotkeys" / "defaultpub.txt").exists():
        path = base / "hotkeys" / "defaultpub.txt"
    return str(json.loads(path.read_text())["ss58Address"])


def subnet_owned_by(chain: SubtensorChain, coldkey: str) -> int | None:
    """The newest subnet whose owner is `coldkey`, if any."""
    rows: list[tuple[Any, Any]] = chain._read(
        "subnet owners", lambda c: c.query_map(bt.storage.SubtensorModule.SubnetOwner)
    )
    owned = [int(netuid) for netuid, owner in rows if str(owner) == coldkey]
    return max(owned) if owned else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flock_subnet.chain.subtensor_localnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    wait = sub.add_parser("wait")
    wait.add_argument("endpoint")
    wait.add_argument("--timeout", type=float, default=180.0)
    ss58 = sub.add_parser("ss58")
    ss58.add_argument("wallet_path")
    ss58.add_argument("name")
    ss58.add_argument("key", choices=("coldkey", "hotkey"))
    netuid = sub.add_parser("netuid")
    netuid.add_argument("endpoint")
    netuid.add_argument("coldkey")
    for name in ("uid", "stake"):
        p = sub.add_parser(name)
        p.add_argument("endpoint")
        p.add_argument("netuid", type=int)
        p.add_argument("hotkey")
    args = parser.parse_args(argv)

    if args.command == "ss58":
        print(wallet_ss58(args.wallet_path, args.name, args.key))
        return 0
    chain = SubtensorChain(args.endpoint, read_timeout_s=20)
    try:
        if args.command == "wait":
            print(wait_for_node(chain, args.timeout))
        elif args.command == "netuid":
            found = subnet_owned_by(chain, args.coldkey)
            print("" if found is None else found)
        else:
            neuron = chain.metagraph(args.netuid).by_hotkey(args.hotkey)
            if neuron is not None:
                print(neuron.uid if args.command == "uid" else neuron.stake)
        return 0
    except ChainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        chain.close()


if __name__ == "__main__":
    raise SystemExit(main())
