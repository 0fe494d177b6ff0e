"""The extrinsics the fake subtensor models, with subtensor's rules for each: commitments,
weights (direct and timelocked commits, and the reveal of commits at their epoch) and burned
registration.

`ExtrinsicRules` is mixed into `FakeSubstrate`; a handler returns the events of an included
extrinsic or raises `Refusal` with the chain's error name.
"""

from __future__ import annotations

from tests.chain.fake_chain_state import U16_MAX, FakeSubnet, _as_bytes, _Refusal
from tests.chain.fake_timelock import open_commit


class ExtrinsicRules:
    """Write handlers of `FakeSubstrate`; they read `subnets`, `block`, `max_fields`, `max_space`,
    `stake_threshold` and `balances` of the node they are mixed into, and call its `register`."""

    subnets: dict[int, FakeSubnet]
    block: int
    max_fields: int
    max_space: int
    stake_threshold: int
    balances: dict[str, int]

    def _subnet(self, netuid: int) -> FakeSubnet:
        subnet = self.subnets.get(int(netuid))
        if subnet is None:
            raise _Refusal("SubnetNotExists", "The subnet does not exist.")
        return subnet

    def _set_commitment(self, params: dict, signer: str) -> list[dict]:
        subnet = self._subnet(params["netuid"])
        if subnet.uid_of(signer) is None:
            raise _Refusal("AccountNotAllowedCommit", "Account is not allowed to commit data")
        fields = list((params.get("info") or {}).get("fields") or [])
        if len(fields) > self.max_fields:
            raise _Refusal("TooManyFieldsInCommitmentInfo", "Too many fields in commitment info")
        stored, size = [], 0
        for entry in fields:
            ((variant, value),) = entry.items()
            data = _as_bytes(value)
            size += len(data)
            stored.append({variant: "0x" + data.hex()})
        epoch = self.block // (int(subnet.hyper["tempo"]) + 1)
        used_epoch, used = subnet.used_space.get(signer, (epoch, 0))
        used = used if used_epoch == epoch else 0
        cost = max(100, size)
        if used + cost > self.max_space:
            raise _Refusal("SpaceLimitExceeded", "Space limit exceeded for this tempo")
        subnet.used_space[signer] = (epoch, used + cost)
        subnet.commitments[signer] = {"deposit": 0, "block": self.block, "info": {"fields": stored}}
        return [{"event": {"module_id": "Commitments", "event_id": "Commitment",
                           "attributes": {"netuid": subnet.netuid, "who": signer}}}]

    def _weights_common(self, params: dict, signer: str, too_fast: str) -> tuple[FakeSubnet, int]:
        subnet = self._subnet(params["netuid"])
        uid = subnet.uid_of(signer)
        if uid is None:
            raise _Refusal("HotKeyNotRegisteredInSubNet", "The hotkey is not registered in this subnet.")
        limit = int(subnet.hyper["weights_rate_limit"])
        last = subnet.last_update[uid]
        if limit and last > 0 and self.block - last < limit:
            raise _Refusal(too_fast, f"Weights were set {self.block - last} blocks ago; the limit is {limit}.")
        if subnet.neurons[uid].stake < self.stake_threshold:
            raise _Refusal("NotEnoughStakeToSetWeights", "Not enough stake to set weights.")
        return subnet, uid

    def _set_weights(self, params: dict, signer: str) -> list[dict]:
        subnet, uid = self._weights_common(params, signer, "SettingWeightsTooFast")
        if subnet.hyper["commit_reveal_weights_enabled"]:
            raise _Refusal("CommitRevealEnabled", "Commit-reveal is enabled; commit weights instead.")
        if int(params["version_key"]) < int(subnet.hyper["weights_version"]):
            raise _Refusal("IncorrectWeightVersionKey", "The weights version key is older than the subnet's.")
        dests, values = [int(d) for d in params["dests"]], [int(v) for v in params["weights"]]
        is_self = dests == [uid]
        if not is_self and not subnet.permits()[uid] and signer != subnet.owner_hotkey:
            raise _Refusal("NeuronNoValidatorPermit", "The neuron has no validator permit.")
        if len(dests) != len(values):
            raise _Refusal("WeightVecNotEqualSize", "uids and weights differ in length.")
        if len(set(dests)) != len(dests):
            raise _Refusal("DuplicateUids", "Duplicate uids in the weight vector.")
        if any(d >= len(subnet.neurons) for d in dests):
            raise _Refusal("UidVecContainInvalidOne", "The weight vector contains an invalid uid.")
        if not is_self and len(dests) < int(subnet.hyper["min_allowed_weights"]):
            raise _Refusal("WeightVecLengthIsLow", "Fewer weights than the subnet's minimum.")
        total = sum(values)
        if not is_self and total and max(values) * U16_MAX > int(subnet.hyper["max_weights_limit"]) * total:
            raise _Refusal("MaxWeightExceeded", "A weight exceeds the subnet's max weight limit.")
        top = max(values) if values else 0
        subnet.weights[uid] = [(d, round(v * U16_MAX / top)) for d, v in zip(dests, values) if top]
        subnet.last_update[uid] = self.block
        return [{"event": {"module_id": "SubtensorModule", "event_id": "WeightsSet",
                           "attributes": {"netuid": subnet.netuid, "uid": uid}}}]

    def _commit_weights(self, params: dict, signer: str) -> list[dict]:
        subnet, uid = self._weights_common(params, signer, "CommittingWeightsTooFast")
        if not subnet.hyper["commit_reveal_weights_enabled"]:
            raise _Refusal("CommitRevealDisabled", "Commit-reveal is disabled on this subnet.")
        subnet.timelocked.append({
            "hotkey": signer, "uid": uid, "block": self.block, "reveal_round": int(params["reveal_round"]),
            "reveal_epoch": subnet.epoch_index + int(subnet.hyper["commit_reveal_period"]),
            "commit": params["commit"],
        })
        subnet.last_update[uid] = self.block
        return [{"event": {"module_id": "SubtensorModule", "event_id": "TimelockedWeightsCommitted",
                           "attributes": {"netuid": subnet.netuid, "who": signer}}}]

    def _reveal_due(self, subnet: FakeSubnet) -> None:
        """Reveal the commits of the epoch just entered; a failing reveal is dropped without an error."""
        due = [c for c in subnet.timelocked if c["reveal_epoch"] <= subnet.epoch_index]
        subnet.timelocked = [c for c in subnet.timelocked if c["reveal_epoch"] > subnet.epoch_index]
        for commit in due:
            opened = open_commit(commit["commit"])
            uid = subnet.uid_of(commit["hotkey"])
            if opened is None or uid is None:  # sealed for good offline, or the hotkey is gone
                continue
            dests, values = opened["uids"], opened["weights"]
            is_self = dests == [uid]
            if int(opened["version_key"]) < int(subnet.hyper["weights_version"]):
                continue
            if not is_self and not subnet.permits()[uid] and commit["hotkey"] != subnet.owner_hotkey:
                continue
            if any(d >= len(subnet.neurons) for d in dests) or not values:
                continue
            if not is_self and len(dests) < int(subnet.hyper["min_allowed_weights"]):
                continue
            top = max(values)
            subnet.weights[uid] = [(d, round(v * U16_MAX / top)) for d, v in zip(dests, values)]

    def _burned_register(self, params: dict, signer: str) -> list[dict]:
        subnet = self._subnet(params["netuid"])
        hotkey = str(params["hotkey"])
        if subnet.uid_of(hotkey) is not None:
            raise _Refusal("HotKeyAlreadyRegisteredInSubNet", "The hotkey is already registered in this subnet.")
        burn = int(subnet.hyper["min_burn"])
        if self.balances.get(signer, 0) < burn:
            raise _Refusal("NotEnoughBalanceToStake", "Not enough balance to pay the registration burn.")
        self.balances[signer] -= burn
        uid = self.register(hotkey, signer, subnet.netuid)
        return [{"event": {"module_id": "SubtensorModule", "event_id": "NeuronRegistered",
                           "attributes": {"netuid": subnet.netuid, "uid": uid, "hotkey": hotkey}}}]
