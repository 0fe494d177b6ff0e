"""A separate process writing to a local chain file: commits, weights, stake, and block advances.

Run as `python tests/chain/chain_worker.py CHAIN WALLETS NAME TARGET_UID POOL_HOTKEY N START_FILE [advance]`;
prints a JSON summary of what succeeded.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    chain_path, wallets, name, target_uid, pool_hotkey, n, start_file = argv[:7]
    advance = len(argv) > 7 and argv[7] == "advance"
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from flock_subnet.chain.wallets import create_wallet
    from flock_subnet.kit.localchain.chain import LocalChain

    wallet = create_wallet(name, path=wallets)
    chain = LocalChain.open(chain_path)
    Path(f"{start_file}.{name}.ready").touch()
    deadline = time.monotonic() + 60
    while not Path(start_file).exists():  # start together with the other worker
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.005)
    summary = {"commits": 0, "weights": 0, "stakes": 0, "errors": [], "started": time.time()}
    for i in range(int(n)):
        result = chain.commit(wallet, 1, f"{name}-{i}")
        if result.ok:
            summary["commits"] += 1
        else:
            summary["errors"].append(f"commit {i}: {result.error} {result.message}")
        result = chain.set_weights(wallet, 1, [int(target_uid)], [1.0], version_key=0)
        if result.ok:
            summary["weights"] += 1
        else:
            summary["errors"].append(f"weights {i}: {result.error} {result.message}")
        try:
            chain.add_stake(wallet, pool_hotkey, 2, 1000)
            summary["stakes"] += 1
        except Exception as exc:  # reported, not raised: the parent asserts on the summary
            summary["errors"].append(f"stake {i}: {exc}")
        if advance:
            chain.advance(1)
    summary["finished"] = time.time()
    chain.close()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
