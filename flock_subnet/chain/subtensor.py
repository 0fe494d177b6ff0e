"""The `Chain` port on a real subtensor node, through the bittensor 11.3 SDK.

`SubtensorChain(network, endpoint, substrate, read_timeout_s)` talks to finney, testnet, a
local subtensor (docker) or, in tests, any object implementing the SDK's `Substrate` protocol.

What it adds on top of the SDK:
- Deadlines. Every read runs under `read_timeout_s` and every write under `write_timeout_s`
  on a private event loop (`subtensor_loop.DeadlineLoop`). A read that does not answer in time
  becomes `ChainUnavailable`, the connection is dropped, and the next call reconnects, so a
  half-dead websocket never hangs a validator.
- One commitment format. A commitment is a single `RawN` field (N = exact byte length, at most
  128) signed by the hotkey, which 9.x and 11.x readers both decode.
- Errors as data. Raised preflight `ChainError`s and failed `ExtrinsicResult`s both come back
  as a `ChainResult` with a `ChainErrorCode` (`subtensor_errors.classify`); a write whose
  answer never arrives comes back as `ChainErrorCode.UNAVAILABLE`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

import bittensor as bt
from bittensor.settings import default_archive_endpoints, default_fallback_endpoints, resolve_endpoint

from flock_subnet.chain import inputs
from flock_subnet.chain.base import (
    U16_MAX,
    Chain,
    ChainError,
    ChainErrorCode,
    ChainResult,
    ChainUnavailable,
    CommitmentRecord,
    Hyperparameters,
    Metagraph,
    NeuronInfo,
    Wallet,
)
from flock_subnet.chain.subtensor_errors import (
    check_weight_vector,
    classify,
    is_wallet_error,
    retry_after_blocks,
    unexpected_error_hint,
    wallet_hint,
)
from flock_subnet.chain.subtensor_loop import DeadlineExceeded, DeadlineLoop
from flock_subnet.rules.protocol import MAX_COMMITMENT_BYTES

log = logging.getLogger(__name__)
T = TypeVar("T")
Action = Literal["weights", "commit"]

DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_WRITE_TIMEOUT_S = 120.0
_CLOSE_TIMEOUT_S = 5.0


def _is_transport_error(exc: BaseException) -> bool:
    """Errors that mean the connection, not the request, is at fault."""
    if isinstance(exc, (bt.RpcConnectionError, bt.ConnectionNotReady, ConnectionError, OSError, EOFError)):
        return True
    return type(exc).__module__.split(".")[0] == "websockets"


class SubtensorChain(Chain):
    """A subtensor node behind the `Chain` port (see the module docstring)."""

    def __init__(
        self,
        network: str = "finney",
        endpoint: str | None = None,
        substrate: Any = None,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
    ) -> None:
        target = endpoint or network
        try:
            self.network, self.endpoint = resolve_endpoint(target)
        except ValueError as exc:
            raise ChainError(
                ChainErrorCode.OTHER,
                f"{exc}; pass --subtensor.network finney|test|local or --subtensor.chain_endpoint ws://host:port",
            ) from None
        self._target = target
        self._injected = substrate
        self.read_timeout_s = float(read_timeout_s)
        self.write_timeout_s = float(write_timeout_s)
        self._loop = DeadlineLoop(name=f"subtensor-{self.network}")
        self._client: Any = None
        self._substrate: Any = None
        self._connect_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self.reconnects = 0

    # ------------------------------------------------------------------ connection

    def _new_substrate(self) -> Any:
        if self._injected is not None:
            return self._injected
        return bt.RpcSubstrate(
            self.endpoint,
            fallback_endpoints=[u for u in default_fallback_endpoints(self.network) if u != self.endpoint],
            archive_endpoints=default_archive_endpoints(self.network),
        )

    async def _connected(self) -> Any:
        if self._client is None:
            loop = asyncio.get_running_loop()
            if self._connect_lock is None or self._connect_lock[0] is not loop:
                self._connect_lock = (loop, asyncio.Lock())  # one per loop: a wedged loop is replaced
            async with self._connect_lock[1]:  # concurrent callers share one new connection
                if self._client is None:
                    substrate = self._new_substrate()
                    client = await bt.Subtensor(self._target, substrate=substrate)
                    self._client, self._substrate = client, substrate
        return self._client

    def _drop_connection(self, loop_wedged: bool) -> None:
        """Forget the current connection; the next call opens a new one."""
        client, self._client, self._substrate = self._client, None, None
        self.reconnects += 1
        if client is not None and not loop_wedged:
            self._loop.submit(client.close(), timeout=_CLOSE_TIMEOUT_S)

    def _run(self, what: str, op: Callable[[Any], Awaitable[T]], timeout: float) -> T:
        """Run `op(client)` under a deadline; transport trouble becomes `ChainUnavailable`."""

        async def call() -> T:
            return await op(await self._connected())

        try:
            return self._loop.run(call(), timeout)
        except DeadlineExceeded as exc:
            self._drop_connection(exc.loop_wedged)
            raise ChainUnavailable(
                f"{what}: {exc} from {self.endpoint}; the connection was reset, retry later"
            ) from None
        except bt.ChainError:
            raise
        except Exception as exc:
            if not _is_transport_error(exc):
                raise
            self._drop_connection(False)
            raise ChainUnavailable(f"{what}: {self.endpoint} is unreachable ({exc}); retry later") from exc

    def _read(self, what: str, op: Callable[[Any], Awaitable[T]]) -> T:
        try:
            return self._run(what, op, self.read_timeout_s)
        except ChainError:
            raise
        except bt.ChainError as exc:
            raise ChainUnavailable(f"{what}: the node refused the read ({exc}); retry later") from exc
        except Exception as exc:  # nothing the SDK raises may take the caller down
            raise ChainUnavailable(f"{what}: {type(exc).__name__}: {exc}; {unexpected_error_hint(exc)}") from exc

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                self._loop.run(client.close(), _CLOSE_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - closing must never fail the caller
                log.debug("closing the subtensor connection failed: %s", exc)
        self._loop.close()

    # ------------------------------------------------------------------ reads

    def block(self) -> int:
        return int(self._read("current block", lambda c: c.block()))

    def block_hash(self, block: int) -> str:
        if block < 0:
            raise ChainError(ChainErrorCode.OTHER, f"block {block} does not exist; blocks start at 0")

        async def op(client: Any) -> str | None:
            head = await client.block()
            if block > head:
                return None
            return await self._substrate.block_hash(int(block))

        value = self._read(f"hash of block {block}", op)
        if not value:
            raise ChainError(ChainErrorCode.OTHER, f"block {block} does not exist yet; wait until the chain reaches it")
        return str(value)

    def metagraph(self, netuid: int) -> Metagraph:
        graph = self._read(f"metagraph of subnet {netuid}", lambda c: c.subnets.metagraph(netuid, commitments=False))
        if graph is None:
            raise ChainError(ChainErrorCode.SUBNET_NOT_FOUND, f"subnet {netuid} does not exist on {self.network}")
        neurons = tuple(
            NeuronInfo(
                uid=int(n.uid),
                hotkey=str(n.hotkey),
                coldkey=str(n.coldkey),
                stake=int(n.total_stake.rao),
                validator_permit=bool(n.validator_permit),
                incentive=float(n.incentive),
                dividends=float(n.dividends),
                emission=int(n.emission.rao),
                last_update=int(n.last_update),
                block_at_registration=int(n.block_at_registration),
                consensus=float(n.consensus),
                active=bool(n.active),
            )
            for n in graph.neurons
        )
        return Metagraph(netuid=netuid, block=int(graph.block), neurons=neurons)

    def commitments(self, netuid: int) -> dict[str, CommitmentRecord]:
        found = self._read(f"commitments of subnet {netuid}", lambda c: c.subnets.commitments(netuid))
        records: dict[str, CommitmentRecord] = {}
        for hotkey, commitment in found.items():
            value = commitment.value
            if value is None:  # still sealed (timelocked): nothing readable yet
                continue
            records[str(hotkey)] = CommitmentRecord(hotkey=str(hotkey), data=str(value), block=int(commitment.block))
        return records

    def hyperparameters(self, netuid: int) -> Hyperparameters:
        async def op(client: Any) -> tuple[dict | None, Any, Any, Any]:
            snap = await client.at()
            params = await snap.subnets.subnet_hyperparameters(netuid)
            if not params:
                return params, None, None, None
            module = bt.storage.SubtensorModule  # what the hyperparameters runtime API leaves out
            owner, max_uids, cutoff_factor = await asyncio.gather(
                snap.query(module.SubnetOwnerHotkey, [netuid]),
                snap.query(module.MaxAllowedUids, [netuid]),
                snap.query(module.ActivityCutoffFactorMilli, [netuid]),
            )
            return params, owner, max_uids, cutoff_factor

        params, owner, max_uids, cutoff_factor = self._read(f"hyperparameters of subnet {netuid}", op)
        if params is None:
            raise ChainError(ChainErrorCode.SUBNET_NOT_FOUND, f"subnet {netuid} does not exist on {self.network}")

        def number(name: str, default: int) -> int:
            value = params.get(name)
            return default if value is None else int(value)

        return Hyperparameters(
            tempo=number("tempo", 360),
            weights_rate_limit=number("weights_rate_limit", 100),
            commit_reveal_enabled=bool(params.get("commit_reveal_weights_enabled", False)),
            weights_version=number("weights_version", 0),
            max_weight_limit=number("max_weights_limit", U16_MAX),
            min_allowed_weights=number("min_allowed_weights", 1),
            immunity_period=number("immunity_period", 4096),
            max_allowed_uids=int(max_uids) if max_uids is not None else 256,
            max_allowed_validators=number("max_validators", 64),
            activity_cutoff=_activity_cutoff(cutoff_factor, number("tempo", 360), number("activity_cutoff", 5000)),
            commitment_rate_limit=0,  # the Commitments pallet limits bytes per tempo, not blocks
            commitment_max_bytes=MAX_COMMITMENT_BYTES,
            owner_hotkey=str(owner) if owner else None,
            reveal_period_epochs=number("commit_reveal_period", 1),
            extra=dict(params),
        )

    def weights(self, netuid: int) -> dict[int, dict[int, float]]:
        rows = self._read(
            f"weights of subnet {netuid}",
            lambda c: c.query_map(bt.storage.SubtensorModule.Weights, [netuid]),
        )
        out: dict[int, dict[int, float]] = {}
        for uid, row in rows:
            out[int(uid)] = {int(target): int(value) / U16_MAX for target, value in (row or [])}
        return dict(sorted(out.items()))

    # ------------------------------------------------------------------ writes

    def commit(self, wallet: Wallet, netuid: int, data: str) -> ChainResult:
        try:
            payload = inputs.commitment_bytes(data, MAX_COMMITMENT_BYTES)
            netuid = inputs.netuid(netuid)
        except inputs.InputRefused as refused:
            return refused.result()
        call = bt.calls.Commitments.set_commitment(netuid=netuid, info={"fields": [{f"Raw{len(payload)}": payload}]})
        return self._write(
            "commit",
            f"commitment on subnet {netuid}",
            lambda c: c.submit_call(call, wallet, signer="hotkey", wait_for_inclusion=True, wait_for_finalization=False),
            wallet,
        )

    def set_weights(
        self, wallet: Wallet, netuid: int, uids: Sequence[int], weights: Sequence[float], version_key: int
    ) -> ChainResult:
        try:
            uid_list, weight_list = inputs.weight_vector(uids, weights)
            netuid = inputs.netuid(netuid)
            version_key = inputs.version_key(version_key)
        except inputs.InputRefused as refused:
            return refused.result()
        problem = check_weight_vector(uid_list, weight_list)
        if problem is not None:
            return ChainResult.failure(*problem)
        intent = bt.SetWeights(netuid=netuid, uids=uid_list, weights=weight_list, version_key=int(version_key))
        return self._write(
            "weights",
            f"weights on subnet {netuid}",
            lambda c: c.execute(intent, wallet, wait_for_inclusion=True, wait_for_finalization=False, retries=1),
            wallet,
        )

    def _write(
        self, action: Action, what: str, op: Callable[[Any], Awaitable[Any]], wallet: Wallet | None = None
    ) -> ChainResult:
        if wallet is not None:
            try:  # load (and unlock) the hotkey here, where a failure is named as the wallet's
                wallet.hotkey.ss58_address
            except Exception as exc:
                return _wallet_failure(wallet, exc)
        try:
            result = self._run(what, op, self.write_timeout_s)
        except ChainUnavailable as exc:
            return ChainResult.failure(ChainErrorCode.UNAVAILABLE, exc.message)
        except bt.ChainError as exc:  # raised by the SDK's preflight, before anything was signed
            return self._failure(action, exc)
        except bt.PolicyError as exc:
            return ChainResult.failure(ChainErrorCode.OTHER, f"{what}: refused by the client policy: {exc}")
        except bt.BittensorError as exc:  # weights the SDK cannot conform (all zero, NaN, ...)
            code = ChainErrorCode.INVALID_WEIGHTS if action == "weights" else ChainErrorCode.OTHER
            return ChainResult.failure(code, f"{what}: {exc}")
        except Exception as exc:  # nothing the SDK raises may take the caller down
            if is_wallet_error(exc) and wallet is not None:
                return _wallet_failure(wallet, exc)
            return ChainResult.failure(
                ChainErrorCode.OTHER, f"{what}: {type(exc).__name__}: {exc}; {unexpected_error_hint(exc)}"
            )
        if not result.success:
            error = result.error or bt.ChainError(result.message or "the extrinsic failed")
            return self._failure(action, error)
        data = {key: value for key, value in (result.data or {}).items() if isinstance(value, (int, str, float, bool))}
        if result.extrinsic_id:
            data["extrinsic_id"] = result.extrinsic_id
        if action == "weights" and "reveal_round" in data:  # the SDK took the timelocked commit path
            data["committed"] = True
        return ChainResult.success(block=_included_block(result.extrinsic_id), message=result.message or "", **data)

    @staticmethod
    def _failure(action: Action, error: Any) -> ChainResult:
        name = getattr(error, "name", None)
        sdk_code = getattr(getattr(error, "code", None), "value", None)
        message = getattr(error, "message", None) or str(error)
        code = classify(name, sdk_code, message, action)
        detail = f"{message} ({name})" if name and name not in message else message
        return ChainResult.failure(code, detail, retry_after_blocks=retry_after_blocks(message))


def _wallet_failure(wallet: Wallet, exc: BaseException) -> ChainResult:
    name = getattr(wallet, "name", "?")
    return ChainResult.failure(
        ChainErrorCode.WALLET_UNUSABLE,
        f"wallet {name}: the hotkey could not be used ({type(exc).__name__}: {exc}); {wallet_hint(exc)}",
    )


def _activity_cutoff(factor_milli: Any, tempo: int, legacy: int) -> int:
    """The epoch's activity cutoff: `ActivityCutoffFactorMilli * tempo / 1000` (the legacy setting
    only on a node that predates the factor)."""
    if factor_milli is None:
        return legacy
    return max(1, int(factor_milli) * int(tempo) // 1000)


def _included_block(extrinsic_id: str | None) -> int | None:
    """The block number of an extrinsic id `"<block>-<index>"`."""
    if not extrinsic_id or "-" not in extrinsic_id:
        return None
    head = extrinsic_id.split("-", 1)[0]
    return int(head) if head.isdigit() else None
