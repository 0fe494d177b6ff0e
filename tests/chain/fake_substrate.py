"""An in-memory subtensor behind the bittensor SDK's `Substrate` protocol, for offline tests.

`bt.Subtensor(network, substrate=FakeSubstrate())` runs the real SDK (its reads, its
`SetWeights` intent, its executor, its error classification) against this object instead of a
websocket. The fake models exactly the storage items, runtime calls and extrinsics the
`SubtensorChain` adapter reaches through the SDK, with subtensor's rules for them:

- reads: `SubtensorModule.{TokenSymbol, Uids, Weights, LastUpdate, CommitRevealWeightsEnabled,
  WeightsSetRateLimit, MinAllowedWeights, MaxWeightsLimit, SubnetEpochConsensus, ValidatorPermit,
  Tempo, RevealPeriodEpochs, LastEpochBlock, PendingEpochAt, SubnetEpochIndex, BlocksSinceLastStep,
  SubnetOwnerHotkey, SubnetOwner, NetworksAdded, MaxAllowedUids,
  ActivityCutoffFactorMilli}`, `Commitments.{CommitmentOf, RevealedCommitments}`, runtime
  APIs `SubnetInfoRuntimeApi.{get_metagraph, get_subnet_hyperparams_v3}` (with only the fields a
  node returns: no `validator_trust`, no `max_allowed_uids`), constants
  `Aura.SlotDuration` and `Commitments.MaxFields`. Anything else raises `ChainError` loudly.
- writes: `Commitments.set_commitment` (hotkey must be registered, `RawN` length exact, at most
  3 fields, a byte quota per tempo), `SubtensorModule.set_mechanism_weights` (every weight rule
  at once) and `commit_timelocked_mechanism_weights` (registration, rate limit, stake at commit; version key,
  permit, uids and length at the reveal, a failing reveal dropped silently; commits are opened
  only when made under `fake_timelock.transparent_timelock()`, otherwise they stay sealed as on
  an offline node), `burned_register`. Every extrinsic is signed by the given keypair and the
  signature verified; inclusion produces a new block.
- test controls: the admin API (`create_subnet`, `register`, `add_stake`, `set_hyperparameter`,
  `advance`, `set_scores`) and fault injection (`hang_reads`, `block_reads_until`, `fail_reads`,
  `hang_submits`, `reject_next_submit`).

A simple fake answers every read with head state and ignores `block_hash`.

The node's state lives in `fake_chain_state.py` and its extrinsic rules in `fake_extrinsics.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import Any

import bittensor as bt
from bittensor.result import chain_error_from_substrate_request
from bittensor.sp_core import Keypair

from tests.chain.fake_chain_state import (  # noqa: F401  (re-exported for tests)
    _HYPER_TAGS,
    DEFAULT_HYPERPARAMETERS,
    RAO,
    STORAGE_ONLY,
    U16_MAX,
    FakeNeuron,
    FakeSubnet,
    _as_bytes,
    _Refusal,
)
from tests.chain.fake_extrinsics import ExtrinsicRules


class FakeSubstrate(ExtrinsicRules):
    """See the module docstring."""

    def __init__(self, block_time_s: float = 12.0, max_space: int = 3100) -> None:
        self.token_symbols: dict[int, str] = {}
        self.block_time_s = block_time_s
        self.max_space = max_space
        self.max_fields = 3
        self.stake_threshold = 0
        self.block = 1
        self.subnets: dict[int, FakeSubnet] = {}
        self.balances: dict[str, int] = {}
        self._lock = threading.RLock()
        # fault injection
        self.hang_reads = False
        self.block_reads_until: threading.Event | None = None
        self.fail_reads = 0
        self.reject_next_submit: str | None = None
        self.hang_submits = False
        # counters
        self.connects = 0
        self.closes = 0
        self.reads = 0
        self.submitted: list[tuple[str, str, str]] = []  # (module, function, signer)

    # ------------------------------------------------------------------ admin API (tests)

    def create_subnet(self, owner_hotkey: str, owner_coldkey: str, netuid: int | None = None, **hyper: Any) -> int:
        with self._lock:
            netuid = netuid if netuid is not None else max(self.subnets, default=0) + 1
            params = dict(DEFAULT_HYPERPARAMETERS)
            params.update(hyper)
            self.subnets[netuid] = FakeSubnet(netuid, owner_hotkey, owner_coldkey, self.block, params)
            self.register(owner_hotkey, owner_coldkey, netuid)
            return netuid

    def register(self, hotkey: str, coldkey: str, netuid: int) -> int:
        with self._lock:
            subnet = self.subnets[netuid]
            existing = subnet.uid_of(hotkey)
            if existing is not None:
                return existing
            uid = len(subnet.neurons)
            subnet.neurons.append(FakeNeuron(uid, hotkey, coldkey, self.block))
            subnet.last_update.append(0)
            return uid

    def add_stake(self, hotkey: str, netuid: int, amount_rao: int) -> None:
        with self._lock:
            subnet = self.subnets[netuid]
            subnet.neurons[subnet.uid_of(hotkey)].stake += int(amount_rao)

    def set_hyperparameter(self, netuid: int, name: str, value: Any) -> None:
        with self._lock:
            if name not in self.subnets[netuid].hyper:
                raise KeyError(f"unknown hyperparameter {name!r}")
            self.subnets[netuid].hyper[name] = value

    def set_scores(self, netuid: int, uid: int, **values: int) -> None:
        with self._lock:
            neuron = self.subnets[netuid].neurons[uid]
            for name, value in values.items():
                setattr(neuron, name, int(value))

    def advance(self, blocks: int = 1) -> int:
        with self._lock:
            for _ in range(int(blocks)):
                self.block += 1
                for subnet in self.subnets.values():
                    if self.block % (int(subnet.hyper["tempo"]) + 1) == 0:
                        subnet.last_epoch_block = self.block
                        subnet.epoch_index += 1
                        self._reveal_due(subnet)
            return self.block

    def hash_of(self, block: int) -> str:
        return "0x" + hashlib.sha256(f"fake-subtensor:{block}".encode()).hexdigest()

    # ------------------------------------------------------------------ protocol: lifecycle

    def balance(self, rao: int, netuid: int = 0) -> bt.Balance:
        return bt.Balance(int(rao), netuid, self.token_symbols.get(netuid) if netuid else None)

    async def connect(self) -> None:
        self.connects += 1
        await asyncio.sleep(0.01)  # a handshake takes a moment: other coroutines run meanwhile

    async def close(self) -> None:
        self.closes += 1

    async def _gate(self) -> None:
        """Every read passes here: where tests make the node slow, silent or broken."""
        self.reads += 1
        if self.block_reads_until is not None:
            self.block_reads_until.wait()  # blocks the event loop thread itself
        if self.hang_reads:
            await asyncio.Event().wait()  # never answers
        if self.fail_reads > 0:
            self.fail_reads -= 1
            raise bt.RpcConnectionError("websocket connection closed: no close frame received or sent")

    # ------------------------------------------------------------------ protocol: reads

    async def block_hash(self, block: int | None = None) -> str | None:
        await self._gate()
        number = self.block if block is None else int(block)
        return self.hash_of(number) if 0 <= number <= self.block else None

    async def block_number(self) -> int:
        await self._gate()
        return self.block

    async def finalized_block_number(self) -> int:
        await self._gate()
        return self.block

    async def block_time(self) -> float:
        return self.block_time_s

    async def constant(self, module: str, name: str) -> Any:
        await self._gate()
        if (module, name) == ("Aura", "SlotDuration"):
            return int(self.block_time_s * 1000)
        if (module, name) == ("Commitments", "MaxFields"):
            return self.max_fields
        raise bt.ChainError(f"the fake subtensor does not model constant {module}.{name}")

    async def query(self, module: str, storage_function: str, params: list | None = None, block_hash: str | None = None) -> Any:
        await self._gate()
        with self._lock:
            return self._storage(module, storage_function, list(params or []))

    async def query_batch(self, module: str, storage_function: str, param_sets: list, block_hash: str | None = None) -> list:
        return [await self.query(module, storage_function, params, block_hash) for params in param_sets]

    async def query_map(self, module: str, storage_function: str, params: list | None = None, block_hash: str | None = None) -> list:
        await self._gate()
        with self._lock:
            return self._storage_map(module, storage_function, list(params or []))

    async def runtime_call(self, api: str, method: str, params: list, block_hash: str | None = None) -> Any:
        await self._gate()
        with self._lock:
            netuid = int(params[0])
            subnet = self.subnets.get(netuid)
            if (api, method) == ("SubnetInfoRuntimeApi", "get_metagraph"):
                return None if subnet is None else self._metagraph(subnet)
            if (api, method) == ("SubnetInfoRuntimeApi", "get_subnet_hyperparams_v3"):
                if subnet is None:
                    return None
                return [
                    {"name": name, "value": {_HYPER_TAGS.get(type(value), "u64"): value}}
                    for name, value in subnet.hyper.items()
                    if name not in STORAGE_ONLY
                ]
        raise bt.ChainError(f"the fake subtensor does not model runtime call {api}.{method}")

    def _storage(self, module: str, item: str, params: list) -> Any:
        if module == "SubtensorModule":
            if item == "Uids":
                subnet = self.subnets.get(int(params[0]))
                return None if subnet is None else subnet.uid_of(str(params[1]))
            if item == "StakeThreshold":
                return self.stake_threshold
            subnet = self.subnets.get(int(params[0])) if params else None
            if item == "NetworksAdded":
                return subnet is not None
            if subnet is None:
                return None
            hp = subnet.hyper
            simple = {
                "CommitRevealWeightsEnabled": lambda: bool(hp["commit_reveal_weights_enabled"]),
                "WeightsSetRateLimit": lambda: int(hp["weights_rate_limit"]),
                "MinAllowedWeights": lambda: int(hp["min_allowed_weights"]),
                "MaxWeightsLimit": lambda: int(hp["max_weights_limit"]),
                "WeightsVersionKey": lambda: int(hp["weights_version"]),
                "Tempo": lambda: int(hp["tempo"]),
                "RevealPeriodEpochs": lambda: int(hp["commit_reveal_period"]),
                "SubnetEpochConsensus": lambda: "Yuma",
                "LastUpdate": lambda: list(subnet.last_update),
                "ValidatorPermit": lambda: subnet.permits(),
                "LastEpochBlock": lambda: subnet.last_epoch_block,
                "PendingEpochAt": lambda: 0,
                "SubnetEpochIndex": lambda: subnet.epoch_index,
                "BlocksSinceLastStep": lambda: self.block - subnet.last_epoch_block,
                "SubnetOwnerHotkey": lambda: subnet.owner_hotkey,
                "MaxAllowedUids": lambda: int(hp["max_allowed_uids"]),
                "ActivityCutoffFactorMilli": lambda: int(hp["activity_cutoff_factor_milli"]),
            }
            if item in simple:
                return simple[item]()
        raise bt.ChainError(f"the fake subtensor does not model storage {module}.{item}")

    def _storage_map(self, module: str, item: str, params: list) -> list:
        if (module, item) == ("SubtensorModule", "TokenSymbol"):
            return []
        if (module, item) == ("SubtensorModule", "SubnetOwner"):
            return [(netuid, subnet.owner_coldkey) for netuid, subnet in sorted(self.subnets.items())]
        subnet = self.subnets.get(int(params[0])) if params else None
        if subnet is None and (module, item) in {
            ("SubtensorModule", "Uids"),
            ("SubtensorModule", "Weights"),
            ("Commitments", "CommitmentOf"),
            ("Commitments", "RevealedCommitments"),
        }:
            return []
        if (module, item) == ("SubtensorModule", "Uids"):
            return [(n.hotkey, n.uid) for n in subnet.neurons]
        if (module, item) == ("SubtensorModule", "Weights"):
            return [(uid, list(row)) for uid, row in sorted(subnet.weights.items())]
        if (module, item) == ("Commitments", "CommitmentOf"):
            return [(hotkey, record) for hotkey, record in subnet.commitments.items()]
        if (module, item) == ("Commitments", "RevealedCommitments"):
            return []
        raise bt.ChainError(f"the fake subtensor does not model storage map {module}.{item}")

    def _metagraph(self, subnet: FakeSubnet) -> dict:
        neurons = subnet.neurons
        return {
            "netuid": subnet.netuid,
            "name": list(f"fake{subnet.netuid}".encode()),
            "symbol": list(b"\xce\xb1"),
            "identity": None,
            "network_registered_at": subnet.registered_at,
            "owner_hotkey": subnet.owner_hotkey,
            "owner_coldkey": subnet.owner_coldkey,
            "block": self.block,
            "tempo": int(subnet.hyper["tempo"]),
            "last_step": subnet.last_epoch_block,
            "blocks_since_last_step": self.block - subnet.last_epoch_block,
            "num_uids": len(neurons),
            "max_uids": int(subnet.hyper["max_allowed_uids"]),
            "tao_in": 0,
            "alpha_in": 0,
            "hotkeys": [n.hotkey for n in neurons],
            "coldkeys": [n.coldkey for n in neurons],
            "identities": [None for _ in neurons],
            "axons": [n.axon or {"ip": 0, "port": 0, "ip_type": 4} for n in neurons],
            "active": [True for _ in neurons],
            "validator_permit": subnet.permits(),
            "last_update": list(subnet.last_update),
            "block_at_registration": [n.registered_at for n in neurons],
            "incentives": [n.incentive for n in neurons],
            "dividends": [n.dividends for n in neurons],
            "consensus": [n.consensus for n in neurons],
            "emission": [n.emission for n in neurons],
            "alpha_stake": [n.stake for n in neurons],
            "tao_stake": [0 for _ in neurons],
            "total_stake": [n.stake for n in neurons],
        }

    # ------------------------------------------------------------------ protocol: calls and writes

    async def compose(self, call: Any) -> Any:
        """Calls stay the SDK's `Call(module, function, params)`; `RawN` lengths are checked here,
        where the real codec checks them."""
        if (call.module, call.function) == ("Commitments", "set_commitment"):
            for entry in (call.params.get("info") or {}).get("fields") or []:
                for variant, value in (entry.items() if isinstance(entry, dict) else []):
                    if variant.startswith("Raw"):
                        size = int(variant[3:])
                        if size > 128:
                            raise ValueError(f"no variant named {variant!r}")
                        got = len(_as_bytes(value))
                        if got != size:
                            raise ValueError(f"expected {size} bytes, got {got}")
        return call

    async def estimate_fee(self, call: Any, keypair: Any) -> bt.Balance:
        return bt.Balance.from_rao(0)

    async def submit(self, call: Any, keypair: Any, *, nonce: int | None = None, period: int | None = None,
                     wait_for_inclusion: bool = True, wait_for_finalization: bool = True) -> bt.ExtrinsicResult:
        if self.hang_submits:
            await asyncio.Event().wait()  # the extrinsic is never reported included
        signer = keypair.ss58_address
        self.submitted.append((call.module, call.function, signer))
        payload = f"{call.module}.{call.function}:{sorted(call.params.items(), key=lambda kv: kv[0])!r}".encode()
        if not Keypair(ss58_address=signer).verify(payload, keypair.sign(payload)):
            error = chain_error_from_substrate_request(Exception("Transaction has a bad signature"))
            return bt.ExtrinsicResult(success=False, message=error.message, error=error)
        if self.reject_next_submit is not None:  # a transaction-pool rejection: nothing is included
            text, self.reject_next_submit = self.reject_next_submit, None
            error = chain_error_from_substrate_request(Exception(text))
            return bt.ExtrinsicResult(success=False, message=error.message, error=error)
        with self._lock:
            block = self.advance(1)
            extrinsic_id = f"{block}-0001"
            try:
                events = self._dispatch(call, signer)
            except _Refusal as refusal:
                error = bt.ChainError(refusal.message, refusal.name)
                return bt.ExtrinsicResult(
                    success=False, message=refusal.message, block_hash=self.hash_of(block),
                    extrinsic_id=extrinsic_id, error=error,
                )
        if not (wait_for_inclusion or wait_for_finalization):
            return bt.ExtrinsicResult(success=True, message="Submitted (not waiting).")
        return bt.ExtrinsicResult(
            success=True, message="Success", block_hash=self.hash_of(block), extrinsic_id=extrinsic_id,
            fee=bt.Balance.from_rao(0), events=events,
        )

    def _dispatch(self, call: Any, signer: str) -> list[dict]:
        key = (call.module, call.function)
        handlers = {
            ("Commitments", "set_commitment"): self._set_commitment,
            ("SubtensorModule", "set_mechanism_weights"): self._set_weights,
            ("SubtensorModule", "commit_timelocked_mechanism_weights"): self._commit_weights,
            ("SubtensorModule", "burned_register"): self._burned_register,
        }
        if key not in handlers:
            raise _Refusal("CallFiltered", f"the fake subtensor does not model {call.module}.{call.function}")
        return handlers[key](call.params, signer)
