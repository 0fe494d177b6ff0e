"""The local chain's reads: balances, stakes, subnets, epochs and the `Chain` port's reads.

`LocalChainReads` holds the chain file and its clock; every read first runs any epoch that is
due (`_sync`), so whichever process reads first after an epoch block runs it and all processes
see the same history. The signed writes and opening a chain file are in `chain.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flock_subnet.chain.base import (
    U16_MAX,
    ChainError,
    ChainErrorCode,
    CommitmentRecord,
    Hyperparameters,
    Metagraph,
)
from flock_subnet.kit.localchain import ops, root
from flock_subnet.kit.localchain.blockhash import block_hash
from flock_subnet.kit.localchain.clock import MANUAL, WALL, wall_block
from flock_subnet.kit.localchain.epoch import EpochRecord, catch_up, epoch_due, load_epoch_history
from flock_subnet.kit.localchain.reveal import pending_commits
from flock_subnet.kit.localchain.rules import DEFAULT_DELEGATE_TAKE_U16, RuleViolation
from flock_subnet.kit.localchain.store import Store, balance_of, get_meta, stake_of
from flock_subnet.kit.localchain.views import build_hyperparameters, build_metagraph


@dataclass(frozen=True)
class ClockState:
    """The clock a chain file was created with."""

    kind: str
    start_block: int
    genesis_time: float
    block_time: float


class LocalChainReads:
    """Everything one can read from a chain file; `LocalChain` adds the writes."""

    def __init__(
        self, store: Store, genesis: str, clock: ClockState, now: Callable[[], float], hash_key: bytes
    ) -> None:
        self._store = store
        self.genesis = genesis
        self._hash_key = hash_key  # from the key file next to the chain file, never stored in it
        self._clock = clock
        self._now = now

    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def clock_kind(self) -> str:
        return self._clock.kind

    @property
    def block_time(self) -> float | None:
        """Seconds per block for a wall clock, None for a manual clock."""
        return self._clock.block_time if self._clock.kind == WALL else None

    def close(self) -> None:
        self._store.close()

    # ------------------------------------------------------------------ clock

    def _block_in(self, conn: Any) -> int:
        if self._clock.kind == MANUAL:
            return int(get_meta(conn, "manual_block") or 0)
        return wall_block(self._clock.start_block, self._clock.genesis_time, self._clock.block_time, self._now())

    def _sync(self) -> int:
        """The current block, after running any epoch that is due (in one write if one is)."""
        with self._store.read() as conn:
            block = self._block_in(conn)
            due = epoch_due(conn, block)
        if due:
            with self._store.write() as conn:
                block = self._block_in(conn)
                catch_up(conn, block)
        return block

    # ------------------------------------------------------------------ admin reads

    def balance(self, coldkey_ss58: str) -> int:
        """Free (unstaked) balance of a coldkey, in rao."""
        self._sync()
        with self._store.read() as conn:
            return balance_of(conn, coldkey_ss58)

    def stake_of(self, coldkey_ss58: str, hotkey_ss58: str, netuid: int) -> int:
        """What `coldkey` has staked on `hotkey` in subnet `netuid`, in rao."""
        self._sync()
        with self._store.read() as conn:
            return stake_of(conn, netuid, hotkey_ss58, coldkey_ss58)

    def stakes(self, netuid: int) -> list[tuple[str, str, int]]:
        """Every (hotkey, coldkey, rao) stake position on the subnet."""
        self._sync()
        with self._store.read() as conn:
            rows = conn.execute(
                "SELECT hotkey, coldkey, amount FROM stakes WHERE netuid = ? ORDER BY hotkey, coldkey", (netuid,)
            ).fetchall()
        return [(str(h), str(c), int(a)) for h, c, a in rows]

    def root_stake_of(self, coldkey_ss58: str, hotkey_ss58: str) -> int:
        """TAO `coldkey` has staked on the root network on `hotkey`, in rao."""
        self._sync()
        with self._store.read() as conn:
            return root.root_stake_of(conn, hotkey_ss58, coldkey_ss58)

    def root_claimable(self, coldkey_ss58: str, netuid: int) -> dict[str, int]:
        """hotkey -> root dividends (alpha, rao) `coldkey` may claim on `netuid` with `claim_root`."""
        self._sync()
        with self._store.read() as conn:
            return root.claimable(conn, coldkey_ss58, netuid)

    def root_terms(self, netuid: int) -> root.RootTerms:
        """The root proportion, TAO weight and alpha price the subnet's next epoch would run with."""
        self._sync()
        with self._store.read() as conn:
            self._reading(lambda: ops.subnet_row(conn, netuid))
            return root.terms(conn, netuid, ops.subnet_params(conn, netuid))

    def delegate_take(self, hotkey_ss58: str) -> float:
        """The hotkey's validator take as a fraction (default 18 %)."""
        with self._store.read() as conn:
            row = conn.execute("SELECT take_u16 FROM delegate_take WHERE hotkey = ?", (hotkey_ss58,)).fetchone()
        return (DEFAULT_DELEGATE_TAKE_U16 if row is None else int(row[0])) / U16_MAX

    def total_issuance(self) -> int:
        """Everything ever funded or minted, minus everything burned (rao)."""
        self._sync()
        with self._store.read() as conn:
            return int(get_meta(conn, "issuance", "0") or 0)

    def subnets(self) -> list[int]:
        self._sync()
        with self._store.read() as conn:
            return [int(r[0]) for r in conn.execute("SELECT netuid FROM subnets ORDER BY netuid")]

    def subnet_owner(self, netuid: int) -> tuple[str, str]:
        """(owner coldkey, owner hotkey) of the subnet."""
        with self._store.read() as conn:
            row = self._reading(lambda: ops.subnet_row(conn, netuid))
        return str(row[1]), str(row[2])

    def epoch_history(self, netuid: int) -> list[EpochRecord]:
        """Every epoch the subnet ran, oldest first, with what it paid to whom."""
        self._sync()
        with self._store.read() as conn:
            self._reading(lambda: ops.subnet_row(conn, netuid))
            return load_epoch_history(conn, netuid)

    def next_epoch_block(self, netuid: int) -> int | None:
        """The block the subnet's next epoch runs at (None when tempo is 0)."""
        self._sync()
        with self._store.read() as conn:
            row = self._reading(lambda: ops.subnet_row(conn, netuid))
            tempo = int(ops.subnet_params(conn, netuid)["tempo"])
        return None if tempo == 0 else int(row[4]) + tempo

    def weight_commits(self, netuid: int) -> list[dict[str, Any]]:
        """Weight commits not revealed yet (hotkey, uid, commit block, reveal epoch); their weights stay hidden."""
        self._sync()
        with self._store.read() as conn:
            self._reading(lambda: ops.subnet_row(conn, netuid))
            return pending_commits(conn, netuid)

    @staticmethod
    def _reading(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except RuleViolation as exc:
            raise ChainError(exc.code, exc.message) from None

    # ------------------------------------------------------------------ the Chain port: reads

    def block(self) -> int:
        return self._sync()

    def block_hash(self, block: int) -> str:
        current = self._sync()
        if block < 0 or block > current:
            raise ChainError(ChainErrorCode.OTHER, f"block {block} does not exist yet (current block {current})")
        return block_hash(self._hash_key, self.genesis, int(block))

    def metagraph(self, netuid: int) -> Metagraph:
        block = self._sync()
        with self._store.read() as conn:
            self._reading(lambda: ops.subnet_row(conn, netuid))
            return build_metagraph(conn, netuid, block)

    def commitments(self, netuid: int) -> dict[str, CommitmentRecord]:
        self._sync()
        with self._store.read() as conn:
            self._reading(lambda: ops.subnet_row(conn, netuid))
            rows = conn.execute(
                "SELECT hotkey, data, block FROM commitments WHERE netuid = ? ORDER BY hotkey", (netuid,)
            ).fetchall()
        return {str(h): CommitmentRecord(hotkey=str(h), data=str(d), block=int(b)) for h, d, b in rows}

    def hyperparameters(self, netuid: int) -> Hyperparameters:
        self._sync()
        with self._store.read() as conn:
            row = self._reading(lambda: ops.subnet_row(conn, netuid))
            return build_hyperparameters(row, ops.subnet_params(conn, netuid))

    def weights(self, netuid: int) -> dict[int, dict[int, float]]:
        self._sync()
        with self._store.read() as conn:
            self._reading(lambda: ops.subnet_row(conn, netuid))
            rows = conn.execute(
                "SELECT uid, target, value FROM weights WHERE netuid = ? ORDER BY uid, target", (netuid,)
            ).fetchall()
        result: dict[int, dict[int, float]] = {}
        for uid, target, value in rows:
            result.setdefault(int(uid), {})[int(target)] = int(value) / U16_MAX
        return result
