"""What a competition is, as data: its base model, limits, hidden tasks, rules and schedule.

`Competition` is built from a file by `rules.competition_schema` (the built-in ones ship as
files in `flock_subnet/rules/builtin/`); `rules.competitions` holds the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal

from flock_subnet.errors import FlockError


class UnknownCompetition(FlockError, KeyError):
    """No competition with that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown competition"


class CompetitionFileError(FlockError, ValueError):
    """A competition definition does not follow the schema; the message lists every problem."""


class ScheduleState(str, Enum):
    UPCOMING = "upcoming"
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True)
class BaseModel:
    """The model every submission must be a fine-tune of.

    `repo_id`/`revision` name it on the hub. `tiny` names a preset of the project's tiny-model
    kit instead: the kit builds it deterministically, so every validator holds the same
    reference tokenizer and config without a download.
    """

    repo_id: str
    revision: str = "main"
    tiny: str | None = None


@dataclass(frozen=True)
class DeclaredDigest:
    """The digest (`sha256:<hex>`) a correct environment produces for `n` samples of round `seed`."""

    seed: int
    n: int
    sha256: str


@dataclass(frozen=True)
class Competition:
    id: str
    description: str
    base: BaseModel
    architectures: tuple[str, ...]
    max_parameters: int
    max_bytes: int
    sequence_length: int
    tasks: Mapping[str, float]  # hidden-data task name -> weight in the round's sample mix
    samples_per_round: int
    round_length_blocks: int  # rounds start at genesis-aligned multiples of this
    eval_delay_blocks: int  # a commit is eligible for round r if made at or before r - delay
    epsilon_start: float  # relative loss advantage of an earlier commit, when fresh
    epsilon_end: float  # ... once fully decayed (also the clone threshold)
    epsilon_decay_blocks: int  # blocks over which epsilon decays from start to end
    reward_share: float  # this competition's share of all miner weight
    weighting: Literal["winner_take_all", "softmax"] = "winner_take_all"
    softmax_temperature: float = 0.05
    ema_alpha: float = 0.5  # weight of the newest round in the validator's EMA
    max_held_rounds: int = 2  # consecutive rounds a held uid keeps its score before it counts as failed
    dtypes: tuple[str, ...] = ("float32", "bfloat16", "float16")
    eval_batch_tokens: int = 8192
    public_pool: str | None = None  # the task creator's private pool file validators sample from, by seed
    # Scored by default on a real subtensor network; a local-only competition (tiny models) is
    # scored there only when named explicitly, so nobody earns a reward share with a toy model.
    production: bool = True
    extra: Mapping[str, object] = field(default_factory=dict)
    task_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    start_block: int | None = None  # first block the competition is scored at (None: from genesis)
    end_block: int | None = None  # first block it is no longer scored at (None: open-ended)
    data_digest: DeclaredDigest | None = None  # checked by validators at start-up
    accuracy_samples: int = 64  # greedy exact-match accuracy is measured on this many round samples
    # A winner must be at least as accurate as the base model on the same samples (`scoring.below_base`).
    require_accuracy_at_least_base: bool = False

    def schedule_state(self, block: int) -> ScheduleState:
        """Whether the competition is upcoming, active or ended at `block`."""
        if self.start_block is not None and block < self.start_block:
            return ScheduleState.UPCOMING
        if self.end_block is not None and block >= self.end_block:
            return ScheduleState.ENDED
        return ScheduleState.ACTIVE

    def is_active(self, block: int) -> bool:
        return self.schedule_state(block) is ScheduleState.ACTIVE
