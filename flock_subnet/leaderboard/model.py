"""What the leaderboard shows, as plain dataclasses: built by `assemble.py`, read by the templates.

Amounts are in rao (1 α = 10**9 rao); proportions (weights, incentive, shares, win rates) are in
[0, 1]; blocks are block numbers. Nothing here does I/O or formatting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.protocol import ModelReference

BLOCK_SECONDS = 12
BLOCKS_PER_DAY = 24 * 3600 // BLOCK_SECONDS


@dataclass(frozen=True)
class SourceNote:
    """Where part of the page came from, and what went wrong with it (`ok` False: shown as a warning)."""

    label: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Standing:
    """One miner in one competition, as the standings table shows it."""

    rank: int
    uid: int
    hotkey: str
    coldkey: str
    reference: ModelReference | None
    model_url: str | None
    commit_block: int | None
    loss: float | None  # the latest round's loss as the validator measured it
    loss_round: int | None
    held: bool  # the validator could not evaluate it this round (its fault, not the miner's)
    accuracy: float | None
    win_rate: float | None
    competitive: bool | None  # survived the clone filter in the latest round
    weight: float  # stake-weighted share of the validators' weights
    incentive: float
    emission_per_day_rao: float
    emission_share: float
    status: str  # the latest round's status for this uid ("evaluated", "held", "miner_fault", ...)
    detail: str
    held_rounds: int = 0  # rounds in a row the validator has held it (0: evaluated in the latest round)


@dataclass(frozen=True)
class RoundPoint:
    """One finished round of one competition: who led and at which loss."""

    round_block: int
    leader_uid: int | None
    leader_loss: float | None
    best_loss: float | None  # the lowest loss measured this round, leader or not
    new_leader: bool
    entrants: int


@dataclass(frozen=True)
class ToBeat:
    """What a model committed now must reach to take the lead."""

    first_round: int  # the first round a commitment made now is evaluated in
    blocks_until: int
    threshold: float  # the loss to get under
    binding_uid: int  # the model whose epsilon-adjusted loss sets the threshold
    binding_loss: float
    epsilon: float  # that model's advantage at `first_round`
    binding_age_blocks: int
    leader_uid: int
    leader_loss: float
    epsilon_start: float
    epsilon_end: float
    epsilon_decay_blocks: int


@dataclass(frozen=True)
class ValidatorTop:
    """One validator's current favourite in one competition, from its weights on chain."""

    uid: int
    hotkey: str
    stake_rao: int
    top_uid: int | None
    top_share: float  # the share of its weight (within the competition) on `top_uid`
    last_update: int
    agrees: bool


@dataclass(frozen=True)
class Agreement:
    """Whether the validators agree on a competition's leader."""

    validators: tuple[ValidatorTop, ...]
    consensus_uid: int | None  # the top uid with the most stake behind it
    consensus_stake_share: float  # the share of the voting stake behind `consensus_uid`
    unanimous: bool


@dataclass(frozen=True)
class CompetitionBoard:
    """Everything one competition's section shows."""

    competition: Competition
    standings: tuple[Standing, ...]
    rounds: tuple[RoundPoint, ...]
    to_beat: ToBeat | None
    agreement: Agreement
    has_accuracy: bool
    latest_round: int | None


@dataclass(frozen=True)
class Delegate:
    """A validator as a delegator sees it: what staking on it pays."""

    uid: int
    hotkey: str
    coldkey: str
    permit: bool
    stake_rao: int
    own_stake_rao: int | None  # None: the chain adapter does not say
    delegated_rao: int | None
    delegators: int | None
    take: float | None
    dividends: float
    validator_trust: float
    emission_per_day_rao: float
    return_per_alpha_day: float | None  # what one α staked earns per day, after the take (None: take unknown)
    return_before_take_day: float  # the same before the take
    last_update: int  # the block of its last weights
    weights_set: bool  # it has weights on chain


@dataclass(frozen=True)
class CommitmentEntry:
    """One model a miner committed, from the chain, the validator's state or this server's memory."""

    source: str  # "chain", "validator state" or "seen earlier"
    text: str
    block: int | None
    reference: ModelReference | None
    error: str | None  # why the text is not a valid commitment
    model_url: str | None
    admitted: bool | None  # the validator's admission verdict, when it checked this revision
    reasons: tuple[str, ...] = ()
    content_hash: str | None = None
    parameters: int | None = None


@dataclass(frozen=True)
class RoundScore:
    """One round as one miner saw it."""

    round_block: int
    status: str
    loss: float | None
    win_rate: float | None
    won: bool
    detail: str
    per_task: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultEntry:
    round_block: int | None
    kind: str  # "miner" or "validator"
    reason: str


@dataclass(frozen=True)
class MinerPage:
    """The page of one uid: what it committed and how it scored."""

    uid: int
    hotkey: str
    coldkey: str
    competition_id: str | None
    standing: Standing | None
    commitments: tuple[CommitmentEntry, ...]
    scores: tuple[RoundScore, ...]  # newest first
    faults: tuple[FaultEntry, ...]
    incentive: float
    emission_per_day_rao: float
    registered_at: int


@dataclass(frozen=True)
class Outsider:
    """A uid with a commitment that is in no competition (malformed or unknown)."""

    uid: int
    hotkey: str
    reason: str


@dataclass(frozen=True)
class Board:
    """The whole leaderboard at one block."""

    netuid: int
    block: int
    generated_at: float  # unix time the board was gathered
    chain_label: str
    hub_url: str
    epoch_blocks: int
    notes: tuple[SourceNote, ...]
    competitions: tuple[CompetitionBoard, ...]
    outsiders: tuple[Outsider, ...]
    delegates: tuple[Delegate, ...]
    miners: Mapping[int, MinerPage]
    emission_per_day_rao: float  # to every uid together
    state_path: str | None

    @property
    def warnings(self) -> tuple[SourceNote, ...]:
        return tuple(note for note in self.notes if not note.ok)
