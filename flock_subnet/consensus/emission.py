"""Where a subnet's alpha goes: the per-block split and the epoch's payouts to coldkeys.

Per block (`split_block_emission`): owner cut, then half to miners and half to validators,
the root stakers' share taken out of the validators' half. Per epoch (`distribute_epoch`):
miners' incentive (the subnet owner's own hotkeys' incentive is burned), dividends re-routed
through parent/child stake links with the childkey take, the validator's take, and the rest
added to the validator's stake pool so every coldkey staked on it gains pro-rata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_OWNER_CUT_U16 = 11_796
DEFAULT_DELEGATE_TAKE_U16 = 11_796
U64_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class BlockSplit:
    """One block's alpha, in rao: owner cut, miners (server), validators, root stakers, recycled."""

    owner_cut: int
    server: int
    validator: int
    root: int
    recycled: int = 0


@dataclass
class PendingEmission:
    """Alpha accumulated since the last epoch (the chain's Pending* storage), in rao."""

    server: int = 0
    validator: int = 0
    root: int = 0
    owner_cut: int = 0
    recycled: int = 0

    def add(self, split: BlockSplit) -> None:
        raise NotImplementedError

    @property
    def epoch_emission(self) -> int:
        """What the epoch distributes among uids: server + validator + root (owner cut excluded)."""
        return self.server + self.validator + self.root


@dataclass
class SubnetAccounts:
    """Who owns and stakes what on the subnet, as the epoch payout needs it.

    hotkey_owner: hotkey -> owner coldkey.
    alpha_stake: hotkey -> {coldkey: alpha staked (rao)}; the owner coldkey's entry is its own stake.
    delegate_take_u16: validator take per hotkey (default `default_delegate_take_u16`, 18 %).
    childkey_take_u16: take a child hotkey keeps from its parents' share (default 0).
    children: parent hotkey -> [(proportion as u64 fraction of u64::MAX, child hotkey)].
    root_stake: hotkey -> root-subnet TAO (rao); with `tao_weight` it splits dividends into
        alpha and root dividends.
    """

    hotkey_owner: dict[str, str] = field(default_factory=dict)
    alpha_stake: dict[str, dict[str, int]] = field(default_factory=dict)
    subnet_owner_coldkey: str | None = None
    subnet_owner_hotkey: str | None = None
    delegate_take_u16: dict[str, int] = field(default_factory=dict)
    default_delegate_take_u16: int = DEFAULT_DELEGATE_TAKE_U16
    childkey_take_u16: dict[str, int] = field(default_factory=dict)
    children: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    root_stake: dict[str, int] = field(default_factory=dict)
    tao_weight: float = 0.0
    ck_burn_u64: int = 0


@dataclass(frozen=True)
class Credit:
    """An amount of alpha (rao) added to `coldkey`'s stake on `hotkey`.

    kind: "owner_cut", "incentive", "validator_take", "childkey_take", "dividend" (pool share of a
    validator's dividends, for nominators and the owner alike) or "root_dividend".
    """

    coldkey: str
    hotkey: str
    amount: int
    kind: str


@dataclass
class EpochPayout:
    """All credits of one epoch plus what was burned."""

    credits: list[Credit] = field(default_factory=list)
    owner_cut: int = 0
    burned: int = 0
    miner_burned_fraction: float = 0.0
    alpha_dividends: dict[str, int] = field(default_factory=dict)
    root_dividends: dict[str, int] = field(default_factory=dict)

    def earned(self, coldkey: str, hotkey: str | None = None, kind: str | None = None) -> int:
        """Total credited to `coldkey` (optionally only through `hotkey`, only of `kind`)."""
        return sum(
            c.amount
            for c in self.credits
            if c.coldkey == coldkey and (hotkey is None or c.hotkey == hotkey) and (kind is None or c.kind == kind)
        )


def block_emission_for_issuance(total_issuance_rao: int) -> int:
    """Rao issued per block at this total issuance (1 TAO, halving every 10.5 M issued)."""
    raise NotImplementedError


def root_proportion(tao_weight: float, root_tao_rao: int, alpha_issuance_rao: int) -> float:
    """Share of the validators' half that goes to root stakers: tau*T / (tau*T + alpha issuance)."""
    raise NotImplementedError


def split_block_emission(
    alpha_out_rao: int,
    *,
    owner_cut_u16: int = DEFAULT_OWNER_CUT_U16,
    owner_cut_enabled: bool = True,
    root_share: float = 0.0,
    root_sell: bool = True,
) -> BlockSplit:
    """Split one block's alpha_out into owner cut, miners, validators and root stakers."""
    raise NotImplementedError


def distribute_epoch(
    pending: PendingEmission,
    incentive: Mapping[str, int],
    dividends: Mapping[str, int],
    accounts: SubnetAccounts,
) -> EpochPayout:
    """Pay one epoch: `incentive`/`dividends` are the epoch's per-hotkey rao (server/validator emission)."""
    raise NotImplementedError
