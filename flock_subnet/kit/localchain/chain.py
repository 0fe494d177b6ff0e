"""The local chain: a SQLite-backed stand-in for the parts of subtensor the subnet touches.

`LocalChain` implements the `Chain` port (metagraph, commitments, set_weights, ...) and an admin
API for local nets and tests (create a subnet, fund, register, stake, stake on root and claim root
dividends, advance the clock, read the payouts of every epoch). Block hashes come from a key kept
next to the chain file, never in it (`blockhash.py`); the chain file is owner-only, and a port write
returns a `ChainResult` whatever its arguments (`chain.inputs` checks them first). Every write is signed by the wallet's hotkey (or coldkey for
registration, stake and subnet administration) and the signature is verified before anything is
applied. Epochs run through `flock_subnet.rules.consensus` every `tempo` blocks, lazily: whichever
process touches the chain first after an epoch block runs it, so all processes see the same
history. On a commit-reveal subnet `set_weights` stores a hidden commit that an epoch reveals
later (`reveal.py`); weight rows are checked and stored by `weightrows.py`. This module opens chain files and applies the signed writes; the reads are in
`reads.py`, rules in `ops.py`, epochs in `epoch.py`, storage in `store.py`.
"""

from __future__ import annotations

import hmac
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flock_subnet.chain import inputs
from flock_subnet.chain.base import U16_MAX, Chain, ChainError, ChainErrorCode, ChainResult, ChainUnavailable, Wallet
from flock_subnet.errors import FlockError
from flock_subnet.kit.localchain import ops, root, weightrows
from flock_subnet.kit.localchain.blockhash import (
    BlockHashKeyError,
    create_key,
    key_check,
    key_path,
    load_key,
    precreate_owner_only,
    restrict_to_owner,
)
from flock_subnet.kit.localchain.clock import MANUAL, Clock, ManualClock, WallClock
from flock_subnet.kit.localchain.epoch import EpochRecord, catch_up
from flock_subnet.kit.localchain.reads import ClockState, LocalChainReads
from flock_subnet.kit.localchain.reveal import commit_weights
from flock_subnet.kit.localchain.rules import COMMITMENT_MAX_BYTES, RuleViolation, check_weight_input
from flock_subnet.kit.localchain.signing import sign_call, verify_call
from flock_subnet.kit.localchain.store import SCHEMA_VERSION, Store, add_balance, get_meta, set_meta

__all__ = ["LocalChain", "LocalChainMissing", "ManualClock", "WallClock", "EpochRecord"]


MAX_STORED_INTEGER = (1 << 63) - 1  # SQLite's largest integer


class LocalChainMissing(FlockError):
    """There is no local chain file at the given path."""


class LocalChain(LocalChainReads, Chain):
    """One chain file. Open it with `LocalChain.open(path)`; safe to use from several processes."""

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, clock: Clock | None = None, *, create: bool | None = None) -> "LocalChain":
        """Open the chain file at `path`, creating it when `create` (default: when a clock is given).

        A new chain uses `clock` (default `ManualClock()`); an existing one keeps the clock it was
        created with (a `WallClock` passed here only supplies its `now` time source).
        """
        path = Path(path).expanduser()
        if create is None:
            create = clock is not None
        exists = path.is_file() and path.stat().st_size > 0
        if not exists and not create:
            raise LocalChainMissing(
                f"no local chain at {path}; create one with `flock-subnet localnet init --localchain.path {path}`"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        precreate_owner_only(path)
        store = Store(path)
        clock = clock or ManualClock()
        try:
            with store.write() as conn:
                genesis, state = _genesis(conn, path, clock)
                key = _hash_key(conn, path, genesis)
        except BaseException:
            store.close()
            raise
        now = clock.now if isinstance(clock, WallClock) else time.time
        return cls(store, genesis, state, now, key)

    # ------------------------------------------------------------------ clock

    def advance(self, blocks: int = 1) -> int:
        """Manual clock: move `blocks` blocks forward, running every epoch on the way. Returns the new block."""
        if self._clock.kind != MANUAL:
            raise FlockError(f"local chain {self.path} runs on a wall clock; blocks advance with time, not advance()")
        if blocks < 0:
            raise FlockError(f"advance takes a non-negative number of blocks, got {blocks}")
        with self._store.write() as conn:
            block = int(get_meta(conn, "manual_block") or 0) + int(blocks)
            set_meta(conn, "manual_block", block)
            catch_up(conn, block)
        return block

    def advance_to(self, block: int) -> int:
        """Manual clock: advance to `block` (no-op if already there)."""
        return self.advance(max(0, block - self.block()))

    # ------------------------------------------------------------------ signed writes

    def _verified(self, keypair: Any, call: str, params: dict[str, Any]) -> str:
        try:
            signed = sign_call(keypair, self.genesis, call, params)
        except Exception as exc:  # a key file that cannot be loaded or unlocked
            raise RuleViolation(
                ChainErrorCode.WALLET_UNUSABLE,
                f"the wallet's key could not sign {call} ({type(exc).__name__}: {exc}); check the wallet's key files",
            ) from None
        if not verify_call(signed):
            raise RuleViolation(
                ChainErrorCode.BAD_SIGNATURE,
                f"signature on {call} does not verify for {signed.signer}; the wallet's key does not own that address",
            )
        return signed.signer

    def _signed_by(self, keypair: Any, call: str, params: dict[str, Any]) -> str:
        """`_verified` for admin calls: a bad signature raises `ChainError(BadSignature)`."""
        try:
            return self._verified(keypair, call, params)
        except RuleViolation as exc:
            raise ChainError(exc.code, exc.message) from None

    def _admin(self, fn: Callable[[Any, int], Any]) -> Any:
        """Run an admin write; refusals raise `ChainError` with the chain's error name."""
        try:
            with self._store.write() as conn:
                block = self._block_in(conn)
                catch_up(conn, block)
                return fn(conn, block)
        except RuleViolation as exc:
            raise ChainError(exc.code, exc.message) from None

    def _port_write(self, fn: Callable[[Any, int], Any]) -> ChainResult:
        """Apply a port write in one transaction; every outcome is a `ChainResult`, never an exception."""
        block: int | None = None
        try:
            with self._store.write() as conn:
                block = self._block_in(conn)
                catch_up(conn, block)
                data = fn(conn, block) or {}
        except RuleViolation as exc:
            return ChainResult.failure(exc.code, exc.message, retry_after_blocks=exc.retry_after_blocks, block=block)
        except ChainUnavailable as exc:
            return ChainResult.failure(ChainErrorCode.UNAVAILABLE, exc.message, block=block)
        except (ArithmeticError, ValueError, TypeError, sqlite3.Error) as exc:  # rolled back: nothing was applied
            return ChainResult.failure(
                ChainErrorCode.OTHER,
                f"the local chain could not apply the call ({type(exc).__name__}: {exc}); nothing was changed",
                block=block,
            )
        return ChainResult.success(block=block, **data)

    # ------------------------------------------------------------------ admin API

    def fund(self, coldkey_ss58: str, amount_rao: int) -> int:
        """Faucet: mint `amount_rao` to a coldkey's free balance. Returns the new balance."""
        if amount_rao <= 0:
            raise FlockError(f"fund takes a positive amount of rao, got {amount_rao}")

        def apply(conn: Any, block: int) -> int:
            ops.mint_issuance(conn, amount_rao)
            return add_balance(conn, coldkey_ss58, int(amount_rao))

        return self._admin(apply)

    def create_subnet(self, owner_wallet: Wallet, netuid: int | None = None, **hyperparameters: Any) -> int:
        """Create a subnet owned by `owner_wallet` (its hotkey becomes uid 0). Returns the netuid."""
        hotkey = owner_wallet.hotkey.ss58_address
        params = {"netuid": netuid, "hotkey": hotkey, "hyperparameters": {k: str(v) for k, v in hyperparameters.items()}}
        coldkey = self._signed_by(owner_wallet.coldkey, "register_network", params)
        return self._admin(lambda conn, block: ops.create_subnet(conn, coldkey, hotkey, netuid, block, hyperparameters))

    def set_hyperparameter(self, owner_wallet: Wallet, netuid: int, name: str, value: Any) -> Any:
        """Change one hyperparameter; only the subnet owner's coldkey may. Returns the stored value."""
        coldkey = self._signed_by(owner_wallet.coldkey, "sudo_set", {"netuid": netuid, "name": name, "value": str(value)})
        return self._admin(lambda conn, block: ops.set_hyperparameter(conn, coldkey, netuid, name, value))

    def register(self, wallet: Wallet, netuid: int) -> int:
        """Burned registration of the wallet's hotkey, paid by its coldkey. Returns the uid."""
        hotkey = wallet.hotkey.ss58_address
        coldkey = self._signed_by(wallet.coldkey, "burned_register", {"netuid": netuid, "hotkey": hotkey})
        return self._admin(lambda conn, block: ops.register(conn, coldkey, hotkey, netuid, block))

    def add_stake(self, coldkey_wallet: Wallet, hotkey_ss58: str, netuid: int, amount_rao: int) -> int:
        """Stake from the wallet's coldkey onto any registered hotkey (delegating when not its own).

        Returns the coldkey's stake on that hotkey afterwards.
        """
        params = {"netuid": netuid, "hotkey": hotkey_ss58, "amount": int(amount_rao)}
        coldkey = self._signed_by(coldkey_wallet.coldkey, "add_stake", params)
        return self._admin(lambda conn, block: ops.move_stake_in(conn, coldkey, hotkey_ss58, netuid, int(amount_rao)))

    def remove_stake(self, coldkey_wallet: Wallet, hotkey_ss58: str, netuid: int, amount_rao: int) -> int:
        """Unstake back to the coldkey's free balance. Returns the stake left."""
        params = {"netuid": netuid, "hotkey": hotkey_ss58, "amount": int(amount_rao)}
        coldkey = self._signed_by(coldkey_wallet.coldkey, "remove_stake", params)
        return self._admin(lambda conn, block: ops.move_stake_out(conn, coldkey, hotkey_ss58, netuid, int(amount_rao)))

    def add_root_stake(self, coldkey_wallet: Wallet, hotkey_ss58: str, amount_rao: int) -> int:
        """Stake TAO on the root network on a hotkey (it weighs `tao_weight` times on every subnet the
        hotkey is registered on, and earns root dividends). Returns the coldkey's root stake on it."""
        params = {"netuid": 0, "hotkey": hotkey_ss58, "amount": int(amount_rao)}
        coldkey = self._signed_by(coldkey_wallet.coldkey, "add_stake", params)
        owner_of = ops.hotkey_owner
        return self._admin(
            lambda conn, block: root.stake_on_root(conn, coldkey, hotkey_ss58, int(amount_rao), owner_of(conn, hotkey_ss58))
        )

    def remove_root_stake(self, coldkey_wallet: Wallet, hotkey_ss58: str, amount_rao: int) -> int:
        """Unstake TAO from root back to the free balance. Returns the root stake left."""
        params = {"netuid": 0, "hotkey": hotkey_ss58, "amount": int(amount_rao)}
        coldkey = self._signed_by(coldkey_wallet.coldkey, "remove_stake", params)
        return self._admin(lambda conn, block: root.unstake_from_root(conn, coldkey, hotkey_ss58, int(amount_rao)))

    def claim_root(self, coldkey_wallet: Wallet, netuid: int) -> int:
        """Claim the coldkey's root dividends on `netuid`: swapped to TAO through the subnet's pool and
        staked on root on the same hotkeys. Returns the TAO claimed (rao)."""
        coldkey = self._signed_by(coldkey_wallet.coldkey, "claim_root", {"netuid": netuid})
        return self._admin(lambda conn, block: root.claim(conn, coldkey, netuid, ops.subnet_params(conn, netuid)))

    def set_delegate_take(self, coldkey_wallet: Wallet, hotkey_ss58: str, take: float) -> int:
        """Set a validator hotkey's take (a fraction up to 0.18). Returns it as u16."""
        take_u16 = int(round(float(take) * U16_MAX)) if float(take) <= 1.0 else int(take)
        coldkey = self._signed_by(coldkey_wallet.coldkey, "set_take", {"hotkey": hotkey_ss58, "take": take_u16})
        self._admin(lambda conn, block: ops.set_delegate_take(conn, coldkey, hotkey_ss58, take_u16))
        return take_u16

    # ------------------------------------------------------------------ the Chain port: writes

    def commit(self, wallet: Wallet, netuid: int, data: str) -> ChainResult:
        try:
            raw = inputs.commitment_bytes(data, COMMITMENT_MAX_BYTES)
            subnet = inputs.netuid(netuid)
        except inputs.InputRefused as refused:
            return refused.result()
        try:
            hotkey = self._verified(wallet.hotkey, "set_commitment", {"netuid": subnet, "data": raw.hex()})
        except RuleViolation as exc:
            return ChainResult.failure(exc.code, exc.message)
        return self._port_write(lambda conn, block: ops.commit(conn, hotkey, subnet, raw, block))

    def set_weights(
        self, wallet: Wallet, netuid: int, uids: Sequence[int], weights: Sequence[float], version_key: int
    ) -> ChainResult:
        try:
            uid_list, weight_list = inputs.weight_vector(uids, weights)
            subnet = inputs.netuid(netuid)
            version = inputs.version_key(version_key)
        except inputs.InputRefused as refused:
            return refused.result()
        if version > MAX_STORED_INTEGER:
            return ChainResult.failure(
                ChainErrorCode.INVALID_INPUT,
                f"version_key {version} is beyond what the local chain stores ({MAX_STORED_INTEGER}); use a smaller key",
            )
        params = {"netuid": subnet, "uids": uid_list, "weights": [repr(w) for w in weight_list], "version_key": version}
        try:
            check_weight_input(uid_list, weight_list)
            hotkey = self._verified(wallet.hotkey, "set_weights", params)
        except RuleViolation as exc:
            return ChainResult.failure(exc.code, exc.message, retry_after_blocks=exc.retry_after_blocks)

        def apply(conn: Any, block: int) -> dict[str, Any]:
            if ops.subnet_params(conn, subnet)["commit_reveal_enabled"]:
                return commit_weights(conn, hotkey, subnet, uid_list, weight_list, version, block)
            stored = weightrows.set_weights(conn, hotkey, subnet, uid_list, weight_list, version, block)
            return {"uids": list(stored)}

        return self._port_write(apply)

    def __repr__(self) -> str:
        return f"LocalChain({str(self.path)!r}, clock={self._clock.kind})"


def _hash_key(conn: Any, path: Path, genesis: str) -> bytes:
    """The block-hash key kept next to the chain file: made with a new chain (or the first time a
    chain from before keys is opened), checked against the chain file otherwise."""
    where = key_path(path)
    stored_check = get_meta(conn, "hash_key_check")
    if stored_check is None:
        key = create_key(where)
        set_meta(conn, "hash_key_check", key_check(key, genesis))
        restrict_to_owner(path)
        return key
    key = load_key(where, path)
    if not hmac.compare_digest(key_check(key, genesis), stored_check):
        raise BlockHashKeyError(
            f"{where} is the block-hash key of another chain, not of {path}; restore this chain's own key file "
            "or start a new chain with `flock-subnet localnet init`"
        )
    return key


def _genesis(conn: Any, path: Path, clock: Clock) -> tuple[str, ClockState]:
    """The chain's genesis id and clock, written first when the file is new; refuses another schema."""
    if get_meta(conn, "genesis") is None:
        set_meta(conn, "schema_version", SCHEMA_VERSION)
        set_meta(conn, "genesis", uuid.uuid4().hex)
        set_meta(conn, "clock", clock.kind)
        set_meta(conn, "start_block", clock.start_block)
        set_meta(conn, "manual_block", clock.start_block)
        set_meta(conn, "genesis_time", repr(clock.now() if isinstance(clock, WallClock) else time.time()))
        set_meta(conn, "block_time", repr(clock.block_time if isinstance(clock, WallClock) else 0.0))
        set_meta(conn, "issuance", 0)
    version = int(get_meta(conn, "schema_version") or 0)
    if 0 < version < SCHEMA_VERSION:  # the store has just migrated the file's tables
        set_meta(conn, "schema_version", SCHEMA_VERSION)
        version = SCHEMA_VERSION
    if version != SCHEMA_VERSION:
        raise FlockError(
            f"local chain {path} has schema version {version}, this code reads {SCHEMA_VERSION}; "
            "create a new chain file with `flock-subnet localnet init`"
        )
    state = ClockState(
        kind=str(get_meta(conn, "clock")),
        start_block=int(get_meta(conn, "start_block") or 0),
        genesis_time=float(get_meta(conn, "genesis_time") or 0.0),
        block_time=float(get_meta(conn, "block_time") or 0.0),
    )
    return str(get_meta(conn, "genesis")), state
