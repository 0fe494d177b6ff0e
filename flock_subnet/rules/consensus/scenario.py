"""A small mutable subnet for driving epochs step by step: weights, stakes, registrations.

`Scenario` keeps what the chain stores between epochs (weights as stored u16 rows, last
updates, registration blocks, stakes, bonds and permits) and applies the chain's side effects
of `set_weights`, a uid's replacement and `do_reset_bonds`. The replay of test vectors and the
`yuma simulate` command both run on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flock_subnet.rules.consensus.schema import EpochInput, EpochResult, EpochState, YumaParams
from flock_subnet.rules.consensus.yuma import clear_uid, run_epoch


@dataclass
class Scenario:
    """One subnet's epoch inputs, carried across epochs.

    `fixed_step_block`: when set, `last_step_block` stays at this value (as in the chain's unit
    tests, which call the epoch directly); otherwise it advances to each epoch's block.
    """

    params: YumaParams
    stakes: list[int]
    block_at_registration: list[int]
    last_update: list[int]
    weights: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    state: EpochState = field(default_factory=EpochState)
    rao_emission: int = 1_000_000_000
    fixed_step_block: int | None = None
    commit_blocks: dict[int, int] | None = None

    @property
    def n(self) -> int:
        return len(self.stakes)

    @classmethod
    def from_initial_state(
        cls, initial: Mapping, params: YumaParams, rao_emission: int, fixed_step_block: int | None
    ) -> "Scenario":
        n = int(initial.get("n", len(initial.get("stake_rao", []))))
        stakes = [int(s) for s in initial.get("stake_rao", [])] + [0] * n
        registered = _per_uid(initial.get("block_at_registration", 0), n)
        last_update = _per_uid(initial.get("last_update", 0), n)
        permits = [bool(p) for p in initial.get("validator_permits", [])]
        state = EpochState(
            bonds=_sparse(initial.get("bonds") or {}),
            validator_permits=permits,
            last_step_block=fixed_step_block or 0,
        )
        return cls(
            params=params,
            stakes=stakes[:n],
            block_at_registration=registered,
            last_update=last_update,
            weights=_sparse(initial.get("weights") or {}),
            state=state,
            rao_emission=rao_emission,
            fixed_step_block=fixed_step_block,
        )

    def set_weights(self, uid: int, row: Sequence[Sequence[int]], block: int | None = None) -> None:
        """Replace uid's stored weight row (explicit zeros kept); `block` becomes its last update."""
        self.weights[int(uid)] = [(int(j), int(w)) for j, w in row]
        if block is not None:
            self.last_update[int(uid)] = int(block)

    def replace_neuron(self, uid: int, block: int, new_stake: int = 0) -> None:
        """A new hotkey takes over `uid` at `block` (the chain's `replace_neuron` + `clear_neuron`)."""
        clear_uid(self.weights, self.state, uid)
        self.block_at_registration[uid] = int(block)
        self.last_update[uid] = int(block)
        self.stakes[uid] = int(new_stake)

    def reset_bonds(self, uid: int) -> None:
        """`do_reset_bonds`: remove every bond on `uid` (only when the subnet allows it)."""
        self.state.bonds = {i: [(j, b) for j, b in row if j != uid] for i, row in self.state.bonds.items()}

    def epoch_input(self, block: int) -> EpochInput:
        return EpochInput(
            block=int(block),
            stakes=list(self.stakes),
            weights={i: list(r) for i, r in self.weights.items()},
            last_update=list(self.last_update),
            block_at_registration=list(self.block_at_registration),
            rao_emission=self.rao_emission,
            commit_blocks=self.commit_blocks,
        )

    def run(
        self, block: int, mode: str = "exact", variant: str = "sparse"
    ) -> tuple[EpochInput, EpochState, EpochResult]:
        """Run one epoch at `block`; returns (input, state before, result) and keeps the new state."""
        inputs = self.epoch_input(block)
        before = self.state.copy()
        result = run_epoch(inputs, self.params, before, mode=mode, variant=variant)
        self.state = result.state.copy()
        if self.fixed_step_block is not None:
            self.state.last_step_block = self.fixed_step_block
        return inputs, before, result


def _per_uid(value, n: int) -> list[int]:
    if isinstance(value, (int, float)):
        return [int(value)] * n
    out = [int(v) for v in value]
    return (out + [0] * n)[:n]


def _sparse(rows: Mapping) -> dict[int, list[tuple[int, int]]]:
    return {int(i): [(int(j), int(v)) for j, v in row] for i, row in rows.items()}
