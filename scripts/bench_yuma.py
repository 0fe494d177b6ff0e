"""Time one Yuma epoch for a full subnet (256 uids, 64 validators) in each numeric mode.

Prints the seconds per epoch of exact mode (integer fixed-point emulation), float mode
(float64, sparse semantics) and a naive reference (plain dense float64 Yuma with numpy), and
as the last line `ratio=<exact seconds / reference seconds>`.

    .venv/bin/python scripts/bench_yuma.py [--n 256] [--validators 64] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from flock_subnet.rules.consensus import EpochInput, EpochState, YumaParams, run_epoch


def network(n: int, validators: int, seed: int = 0) -> tuple[EpochInput, EpochState, YumaParams]:
    """A busy subnet: every validator weights every miner, with stakes and bonds in place."""
    rng = random.Random(seed)
    stakes = [rng.randint(1_000, 100_000) * 10**9 if uid < validators else rng.randint(0, 10) * 10**9 for uid in range(n)]
    weights = {
        v: [(j, rng.randint(0, 65_535)) for j in range(validators, n)] for v in range(validators)
    }
    bonds = {v: [(j, rng.randint(1, 65_535)) for j in range(validators, n)] for v in range(validators)}
    inputs = EpochInput(
        block=10_000,
        stakes=stakes,
        weights=weights,
        last_update=[9_990] * n,
        block_at_registration=[0] * n,
        rao_emission=360 * 10**9,
    )
    state = EpochState(bonds=bonds, validator_permits=[uid < validators for uid in range(n)], last_step_block=9_640)
    return inputs, state, YumaParams(tempo=360, max_allowed_validators=validators, yuma3=True, liquid_alpha=True)


def naive_reference(inputs: EpochInput, state: EpochState, params: YumaParams) -> np.ndarray:
    """Textbook dense Yuma in float64: sorted-stake median, clip, incentive, bond EMA, dividends."""
    n = len(inputs.stakes)
    stake = np.array(inputs.stakes, dtype=float)
    stake /= stake.sum()
    permit = np.array(state.validator_permits, dtype=bool)
    active = stake * permit
    active /= active.sum()
    w = np.zeros((n, n))
    for i, row in inputs.weights.items():
        for j, v in row:
            w[i, j] = v
    w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    kappa = params.kappa_u16 / 65_535
    consensus = np.zeros(n)
    for j in range(n):
        order = np.argsort(w[:, j])
        cumulative = np.cumsum(active[order])
        idx = int(np.searchsorted(cumulative, 1 - kappa, side="right"))
        consensus[j] = w[order[min(idx, n - 1)], j]
    clipped = np.minimum(w, consensus[None, :])
    incentive = active @ clipped
    incentive /= max(incentive.sum(), 1e-300)
    bonds = np.zeros((n, n))
    for i, row in state.bonds.items():
        for j, v in row:
            bonds[i, j] = v / 65_535
    alpha = 1 - params.bonds_moving_average / 1e6
    bonds = np.minimum(1.0, alpha * clipped + (1 - alpha) * bonds)
    col = bonds / np.maximum(bonds.sum(axis=0, keepdims=True), 1e-300)
    dividends = (col @ incentive) * active
    return dividends / max(dividends.sum(), 1e-300)


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--validators", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    inputs, state, params = network(args.n, args.validators)
    exact = best_time(lambda: run_epoch(inputs, params, state, mode="exact"), args.repeat)
    floating = best_time(lambda: run_epoch(inputs, params, state, mode="float"), args.repeat)
    reference = best_time(lambda: naive_reference(inputs, state, params), args.repeat)
    print(f"uids={args.n} validators={args.validators} weight entries={sum(len(r) for r in inputs.weights.values())}")
    print(f"exact epoch: {exact * 1000:.1f} ms")
    print(f"float epoch: {floating * 1000:.1f} ms")
    print(f"naive dense float reference: {reference * 1000:.1f} ms")
    print(f"float/reference={floating / reference:.2f}")
    print(f"ratio={exact / reference:.2f}")


if __name__ == "__main__":
    main()
