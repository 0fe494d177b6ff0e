"""Per-page latency of `flock-subnet leaderboard serve` on a demo-sized chain.

Builds the demo's cast on a local chain with 12 rounds of validator state (no models trained),
serves it on loopback and fetches every page over HTTP, twice:
- cached: the server reads the chain at most once per block (12 s) and answers from memory;
- uncached: every request reads the chain and the state snapshot again, assembles and renders.
Prints the median, p95 and worst latency per page; the last line is the worst of all (`max_ms=`).

    .venv/bin/python scripts/bench_leaderboard.py [--requests 30]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from flock_subnet.kit.demo.board import local_chain_extras
from flock_subnet.kit.demo.run import NETUID
from flock_subnet.kit.demo.sample import HUB_URL, build_sample
from flock_subnet.kit.localchain.chain import LocalChain
from flock_subnet.leaderboard.gather import BoardSource
from flock_subnet.leaderboard.server import BoardCache, make_server
from flock_subnet.telemetry import setup_logging


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        assert response.status == 200, url
    return (time.perf_counter() - started) * 1000


def measure(source: BoardSource, refresh_s: float, pages: list[str], requests: int) -> tuple[float, dict[str, list[float]]]:
    cache = BoardCache(source.gather, refresh_s=refresh_s)
    server = make_server(cache, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        first = fetch(base + "/")  # the first read of the chain and the state
        return first, {page: [fetch(base + page) for _ in range(requests)] for page in pages}
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="requests per page and mode (default 30)")
    parser.add_argument("--rounds", type=int, default=12, help="rounds of validator state (default 12)")
    args = parser.parse_args()
    setup_logging()
    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as tmp:
        started = time.perf_counter()
        sample = build_sample(Path(tmp) / "subnet", rounds=args.rounds)
        neurons = sample.run.metagraph.n
        print(f"demo-sized subnet: {neurons} neurons, {args.rounds} rounds, built in {time.perf_counter() - started:.1f} s")
        miners = [f"/miners/{a.uid}.html" for a in sample.run.actors if a.role == "miner"]
        pages = ["/", "/delegators.html", *miners[:2], "/leaderboard.json", "/style.css"]
        worst = 0.0
        with LocalChain.open(sample.chain_path) as chain:
            source = BoardSource(chain, NETUID, HUB_URL, "local chain", sample.state_paths["validator-0"],
                                 functools.partial(local_chain_extras, netuid=NETUID))
            for mode, refresh in (("cached (refresh every 12 s)", 12.0), ("uncached (re-read every request)", 0.0)):
                first, measured = measure(source, refresh, pages, args.requests)
                print(f"\n{mode}: {args.requests} requests per page; the first page of a fresh server took {first:.1f} ms")
                print(f"{'page':<22}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
                for page, times in measured.items():
                    ordered = sorted(times)
                    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
                    worst = max(worst, ordered[-1])
                    print(f"{page:<22}{statistics.median(times):>11.1f}{p95:>9.1f}{ordered[-1]:>9.1f}")
    print(f"\nbudget 200 ms per page; max_ms={worst:.1f}")


if __name__ == "__main__":
    main()
