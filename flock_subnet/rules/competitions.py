"""Competition definitions: which base model, which limits, which hidden tasks, which rules.

A competition is pure data. Validators and miners look one up by the id carried in every
commitment. `local` runs on the tiny-model kit (this machine, tests, the demo); `qwen05b` is
the production competition on a 0.5B instruct model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping

from flock_subnet.errors import FlockError


class UnknownCompetition(FlockError, KeyError):
    """No competition with that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown competition"


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
    dtypes: tuple[str, ...] = ("float32", "bfloat16", "float16")
    eval_batch_tokens: int = 8192
    public_pool: str | None = None  # optional private-pool file validators sample from, by seed
    # Scored by default on a real subtensor network; a local-only competition (tiny models) is
    # scored there only when named explicitly, so nobody earns a reward share with a toy model.
    production: bool = True
    extra: Mapping[str, object] = field(default_factory=dict)


LOCAL = Competition(
    id="local",
    description="Tiny Llama on seeded synthetic tasks; runs on a laptop CPU (tests, demo).",
    base=BaseModel(repo_id="flock/tiny-base", tiny="small"),
    architectures=("LlamaForCausalLM",),
    max_parameters=20_000_000,
    max_bytes=200 * 1024 * 1024,
    sequence_length=256,
    tasks=MappingProxyType({"reverse": 1.0, "brackets": 1.0, "sort_digits": 1.0}),
    samples_per_round=96,
    round_length_blocks=10,
    eval_delay_blocks=1,
    epsilon_start=0.02,
    epsilon_end=0.005,
    epsilon_decay_blocks=200,
    reward_share=1.0,
    weighting="winner_take_all",
    ema_alpha=0.5,
    eval_batch_tokens=4096,
    production=False,
)

QWEN_05B = Competition(
    id="qwen05b",
    description="Qwen2.5-0.5B-Instruct fine-tunes on hidden instruction tasks (production).",
    base=BaseModel(repo_id="Qwen/Qwen2.5-0.5B-Instruct", revision="7ae557604adf67be50417f59c2c2f167def9a775"),
    architectures=("Qwen2ForCausalLM",),
    max_parameters=520_000_000,
    max_bytes=2 * 1024**3,
    sequence_length=1024,
    tasks=MappingProxyType({"reverse": 1.0, "brackets": 1.0, "sort_digits": 1.0}),
    samples_per_round=512,
    round_length_blocks=360,
    eval_delay_blocks=10,
    epsilon_start=0.01,
    epsilon_end=0.002,
    epsilon_decay_blocks=7200,
    reward_share=1.0,
    weighting="winner_take_all",
    ema_alpha=0.3,
    eval_batch_tokens=65536,
)

COMPETITIONS: Mapping[str, Competition] = MappingProxyType({c.id: c for c in (LOCAL, QWEN_05B)})


def default_competitions(local_chain: bool) -> list[Competition]:
    """What a validator scores when not told: everything on the local chain, production ones elsewhere."""
    return [c for c in COMPETITIONS.values() if local_chain or c.production]


def get_competition(competition_id: str) -> Competition:
    try:
        return COMPETITIONS[competition_id]
    except KeyError:
        known = ", ".join(sorted(COMPETITIONS))
        raise UnknownCompetition(f"unknown competition {competition_id!r}; known competitions: {known}") from None
