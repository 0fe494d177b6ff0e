"""Where a subnet's alpha goes: the per-block split and the epoch's payouts to coldkeys.

Per block (`split_block_emission`): owner cut, then half to miners and half to validators,
the root stakers' share taken out of the validators' half. Per epoch (`distribute_epoch`):
miners' incentive (the subnet owner's own hotkeys' incentive is burned), dividends re-routed
through parent/child stake links with the childkey take, the validator's take, and the rest
added to the validator's stake pool so every coldkey staked on it gains pro-rata.

Amounts are rao (ints). Proportions are kept as exact fractions and floored at each transfer,
so results agree with the chain's U96F32 arithmetic to within a rao or so per transfer. A
stake pool's share of dividends is split among its coldkeys by largest remainder, so the
credits of one validator add up exactly to what it was paid (the chain leaves such dust
unattributed inside the pool).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from flock_subnet.rules.consensus.errors import ConsensusInputError

DEFAULT_OWNER_CUT_U16 = 11_796
DEFAULT_DELEGATE_TAKE_U16 = 11_796
U16_MAX = 65_535
U64_MAX = (1 << 64) - 1
RAO_PER_TAO = 1_000_000_000
TOTAL_SUPPLY_RAO = 21_000_000 * RAO_PER_TAO
DEFAULT_BLOCK_EMISSION_RAO = RAO_PER_TAO


@dataclass(frozen=True)
class BlockSplit:
    """One block's alpha, in rao: owner cut, miners (server), validators, root stakers, recycled."""

    owner_cut: int
    server: int
    validator: int
    root: int
    recycled: int = 0

    @property
    def total(self) -> int:
        return self.owner_cut + self.server + self.validator + self.root + self.recycled


@dataclass
class PendingEmission:
    """Alpha accumulated since the last epoch (the chain's Pending* storage), in rao."""

    server: int = 0
    validator: int = 0
    root: int = 0
    owner_cut: int = 0
    recycled: int = 0

    def add(self, split: BlockSplit) -> None:
        self.server += split.server
        self.validator += split.validator
        self.root += split.root
        self.owner_cut += split.owner_cut
        self.recycled += split.recycled

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
    root_stake: hotkey -> {coldkey: root-subnet TAO (rao)}; with `tao_weight` it splits dividends
        into alpha dividends and root dividends (credited to those coldkeys as "root_dividend").
    ck_burn_u64: share (of u64::MAX) of a parent's dividend burned when owners differ.
    """

    hotkey_owner: dict[str, str] = field(default_factory=dict)
    alpha_stake: dict[str, dict[str, int]] = field(default_factory=dict)
    subnet_owner_coldkey: str | None = None
    subnet_owner_hotkey: str | None = None
    delegate_take_u16: dict[str, int] = field(default_factory=dict)
    default_delegate_take_u16: int = DEFAULT_DELEGATE_TAKE_U16
    childkey_take_u16: dict[str, int] = field(default_factory=dict)
    children: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    root_stake: dict[str, dict[str, int]] = field(default_factory=dict)
    tao_weight: float = 0.0
    ck_burn_u64: int = 0

    def own_alpha(self, hotkey: str) -> int:
        return sum(self.alpha_stake.get(hotkey, {}).values())

    def own_root(self, hotkey: str) -> int:
        return sum(self.root_stake.get(hotkey, {}).values())

    def owner(self, hotkey: str) -> str:
        return self.hotkey_owner.get(hotkey, "")

    def take(self, hotkey: str) -> int:
        return int(self.delegate_take_u16.get(hotkey, self.default_delegate_take_u16))


@dataclass(frozen=True)
class Credit:
    """An amount of alpha (rao) added to `coldkey`'s stake on `hotkey`.

    kind: "owner_cut", "incentive", "validator_take", "dividend" (pool share of a validator's
    dividends, for nominators and the owner alike) or "root_dividend".
    """

    coldkey: str
    hotkey: str
    amount: int
    kind: str


@dataclass
class EpochPayout:
    """All credits of one epoch plus what was burned or recycled.

    burned: incentive of the subnet owner's own hotkeys; recycled: childkey burn, root alpha
    without root stakers, and amounts with nobody to pay.
    hotkey_dividends: what each hotkey was paid out of dividends after parent/child routing
    (alpha and root parts), before its take and pool split.
    """

    credits: list[Credit] = field(default_factory=list)
    owner_cut: int = 0
    burned: int = 0
    recycled: int = 0
    miner_burned_fraction: float = 0.0
    validator_alpha: int = 0
    hotkey_dividends: dict[str, int] = field(default_factory=dict)

    def earned(self, coldkey: str, hotkey: str | None = None, kind: str | None = None) -> int:
        """Total credited to `coldkey` (optionally only through `hotkey`, only of `kind`)."""
        return sum(
            c.amount
            for c in self.credits
            if c.coldkey == coldkey and (hotkey is None or c.hotkey == hotkey) and (kind is None or c.kind == kind)
        )

    def by_coldkey(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.credits:
            out[c.coldkey] = out.get(c.coldkey, 0) + c.amount
        return out

    def by_hotkey(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.credits:
            out[c.hotkey] = out.get(c.hotkey, 0) + c.amount
        return out

    @property
    def total_credited(self) -> int:
        return sum(c.amount for c in self.credits)


def block_emission_for_issuance(total_issuance_rao: int) -> int:
    """Rao issued per block at this total issuance (1 TAO, halving at 10.5 M, 15.75 M, ... issued)."""
    issued = int(total_issuance_rao)
    if issued < 0:
        raise ConsensusInputError("total issuance cannot be negative")
    if issued >= TOTAL_SUPPLY_RAO:
        return 0
    # k = floor(log2(1 / (1 - x / 21e15))): the largest k with 2^k * (21e15 - x) <= 21e15.
    remaining = TOTAL_SUPPLY_RAO - issued
    k = 0
    while (remaining << (k + 1)) <= TOTAL_SUPPLY_RAO:
        k += 1
    return DEFAULT_BLOCK_EMISSION_RAO >> k if k <= 32 else 0


def root_proportion(tao_weight: float, root_tao_rao: int, alpha_issuance_rao: int) -> float:
    """Share of the validators' half that goes to root stakers: tau*T / (tau*T + alpha issuance)."""
    weighted = Fraction(tao_weight) * int(root_tao_rao)
    total = weighted + int(alpha_issuance_rao)
    return float(weighted / total) if total else 0.0


def owner_cut_fraction(owner_cut_u16: int) -> Fraction:
    """`SubnetOwnerCut` / 65535 as the chain's U96F32 value (32 fraction bits, floored)."""
    return Fraction((int(owner_cut_u16) << 32) // U16_MAX, 1 << 32)


def split_block_emission(
    alpha_out_rao: int,
    *,
    owner_cut_u16: int = DEFAULT_OWNER_CUT_U16,
    owner_cut_enabled: bool = True,
    root_share: float = 0.0,
    root_sell: bool = True,
) -> BlockSplit:
    """Split one block's alpha_out into owner cut, miners, validators and root stakers.

    `root_share` is `root_proportion(...)`; without the root-sell flag the root part is recycled.
    """
    alpha = int(alpha_out_rao)
    if alpha < 0:
        raise ConsensusInputError("alpha_out_rao cannot be negative")
    if not 0 <= int(owner_cut_u16) <= U16_MAX:
        raise ConsensusInputError("owner_cut_u16 must be within 0..65535")
    if not 0.0 <= root_share <= 1.0:
        raise ConsensusInputError("root_share must be within [0, 1]")
    cut = alpha * owner_cut_fraction(owner_cut_u16) if owner_cut_enabled else Fraction(0)
    rest = alpha - cut
    half = rest / 2
    root = Fraction(root_share) * half
    owner_cut = int(cut)
    server = int(half)
    validator = int(half - root)
    root_rao = int(root)
    recycled = 0
    if not root_sell:
        recycled, root_rao = root_rao, 0
    return BlockSplit(owner_cut=owner_cut, server=server, validator=validator, root=root_rao, recycled=recycled)


def _proportion_u64(value: int) -> Fraction:
    return Fraction(int(value), U64_MAX)


def _route_through_parents(hotkey: str, amount: int, accounts: SubnetAccounts, parents) -> tuple[dict[str, Fraction], Fraction]:
    """Split one hotkey's dividend with its parents; returns (per-hotkey amounts, burned)."""
    tau = Fraction(accounts.tao_weight)
    out: dict[str, Fraction] = {}
    burned = Fraction(0)
    links = parents.get(hotkey, [])
    if not links or amount == 0:
        return {hotkey: Fraction(amount)}, burned
    given = sum((_proportion_u64(p) for p, _ in accounts.children.get(hotkey, [])), Fraction(0))
    own = accounts.own_alpha(hotkey) + tau * accounts.own_root(hotkey)
    self_part = Fraction(int(own * max(Fraction(0), 1 - given)))
    contributions = [
        (parent, (accounts.own_alpha(parent) + tau * accounts.own_root(parent)) * _proportion_u64(p))
        for p, parent in links
    ]
    total = self_part + sum((c for _, c in contributions), Fraction(0))
    keep = Fraction(amount)
    if total == 0:
        return {hotkey: keep}, burned
    child_take = Fraction(accounts.childkey_take_u16.get(hotkey, 0), U16_MAX)
    ck_burn = _proportion_u64(accounts.ck_burn_u64)
    for parent, contribution in contributions:
        share = amount * contribution / total
        keep -= share
        if accounts.owner(parent) != accounts.owner(hotkey) or not accounts.owner(parent):
            burn = share * ck_burn
            take = share * child_take
            burned += burn
            keep += take
            share -= burn + take
        out[parent] = out.get(parent, Fraction(0)) + share
    out[hotkey] = out.get(hotkey, Fraction(0)) + keep
    return out, burned


def _pool_split(amount: int, holders: Mapping[str, int], fallback: str) -> list[tuple[str, int]]:
    """Share `amount` among holders pro-rata to their values; exact total by largest remainder."""
    total = sum(v for v in holders.values() if v > 0)
    if amount <= 0:
        return []
    if total == 0:
        return [(fallback, amount)]
    shares = []
    for coldkey in sorted(holders):
        value = holders[coldkey]
        if value > 0:
            q, r = divmod(amount * value, total)
            shares.append([coldkey, q, r])
    left = amount - sum(s[1] for s in shares)
    for s in sorted(shares, key=lambda s: (-s[2], s[0]))[:left]:
        s[1] += 1
    return [(c, q) for c, q, _ in shares if q > 0]


def distribute_epoch(
    pending: PendingEmission,
    incentive: Mapping[str, int],
    dividends: Mapping[str, int],
    accounts: SubnetAccounts,
) -> EpochPayout:
    """Pay one epoch.

    `incentive` / `dividends` are the epoch's per-hotkey rao (`server_emission_rao` and
    `validator_emission_rao` by uid's hotkey). Dividends only weight how `pending.validator`
    (plus `pending.server` when no miner earned anything) and `pending.root` are shared.
    """
    if any(int(v) < 0 for v in list(incentive.values()) + list(dividends.values())):
        raise ConsensusInputError("incentive and dividends must be non-negative rao amounts")
    payout = EpochPayout(owner_cut=int(pending.owner_cut))
    tau = Fraction(accounts.tao_weight)

    # Owner cut: to the subnet owner's hotkey as the owner coldkey's own stake.
    if pending.owner_cut > 0:
        if accounts.subnet_owner_coldkey:
            payout.credits.append(
                Credit(accounts.subnet_owner_coldkey, accounts.subnet_owner_hotkey or "", int(pending.owner_cut), "owner_cut")
            )
        else:
            payout.recycled += int(pending.owner_cut)

    total_incentive = sum(int(v) for v in incentive.values())
    validator_alpha = int(pending.validator) + (int(pending.server) if total_incentive == 0 else 0)
    payout.validator_alpha = validator_alpha

    # Parent/child routing of dividends.
    parents: dict[str, list[tuple[int, str]]] = {}
    for parent, links in accounts.children.items():
        for proportion, child in links:
            parents.setdefault(child, []).append((int(proportion), parent))
    routed: dict[str, Fraction] = {}
    ck_burned = Fraction(0)
    for hotkey in sorted(dividends):
        amount = int(dividends[hotkey])
        if amount <= 0:
            continue
        parts, burned = _route_through_parents(hotkey, amount, accounts, parents)
        ck_burned += burned
        for h, v in parts.items():
            routed[h] = routed.get(h, Fraction(0)) + v

    # Alpha vs root dividends, then the shares of validator_alpha and pending.root.
    alpha_divs: dict[str, Fraction] = {}
    root_divs: dict[str, Fraction] = {}
    for hotkey, x in routed.items():
        alpha_own = accounts.own_alpha(hotkey)
        root_own = tau * accounts.own_root(hotkey)
        root_part = x * root_own / (alpha_own + root_own) if alpha_own + root_own else Fraction(0)
        alpha_divs[hotkey] = x - root_part
        root_divs[hotkey] = root_part
    sum_alpha = sum(alpha_divs.values(), Fraction(0))
    sum_root = sum(root_divs.values(), Fraction(0))
    alpha_pay = {h: int(validator_alpha * v / sum_alpha) for h, v in alpha_divs.items()} if sum_alpha else {}
    root_pay = {h: int(int(pending.root) * v / sum_root) for h, v in root_divs.items()} if sum_root else {}
    if not sum_alpha:
        payout.recycled += validator_alpha
    if not sum_root:
        payout.recycled += int(pending.root)
    payout.recycled += int(ck_burned)

    # Miners.
    owner_hotkeys = {
        h
        for h in incentive
        if h == accounts.subnet_owner_hotkey
        or (accounts.subnet_owner_coldkey is not None and accounts.owner(h) == accounts.subnet_owner_coldkey)
    }
    for hotkey in sorted(incentive):
        amount = int(incentive[hotkey])
        if amount <= 0:
            continue
        if hotkey in owner_hotkeys:
            payout.burned += amount
        else:
            payout.credits.append(Credit(accounts.owner(hotkey), hotkey, amount, "incentive"))
    payout.miner_burned_fraction = payout.burned / total_incentive if total_incentive else 0.0

    # Alpha dividends: the take first (new shares for the owner), then the pool for all stakers,
    # the owner's take included. Root dividends: the take as alpha to the owner, the rest to the
    # hotkey's root stakers.
    _pay_dividends(payout, accounts, alpha_pay, "dividend", accounts.alpha_stake, take_joins_pool=True)
    _pay_dividends(payout, accounts, root_pay, "root_dividend", accounts.root_stake, take_joins_pool=False)
    return payout


def _pay_dividends(
    payout: EpochPayout,
    accounts: SubnetAccounts,
    pay: Mapping[str, int],
    kind: str,
    stakes: Mapping[str, Mapping[str, int]],
    take_joins_pool: bool,
) -> None:
    """Credit each hotkey's dividends: the validator's take to its owner, the rest pro rata."""
    for hotkey in sorted(pay):
        amount = pay[hotkey]
        payout.hotkey_dividends[hotkey] = payout.hotkey_dividends.get(hotkey, 0) + amount
        if amount <= 0:
            continue
        owner = accounts.owner(hotkey)
        take = amount * accounts.take(hotkey) // U16_MAX
        if take:
            payout.credits.append(Credit(owner, hotkey, take, "validator_take"))
        holders = dict(stakes.get(hotkey, {}))
        if take_joins_pool:
            holders[owner] = holders.get(owner, 0) + take
        for coldkey, share in _pool_split(amount - take, holders, owner):
            payout.credits.append(Credit(coldkey, hotkey, share, kind))
