"""Pure scoring rules: from per-model losses to the weights a validator sets on chain.

The pipeline for one competition and one round (all functions below are pure; no I/O):

1. `epsilon(age)` - the relative loss advantage an *earlier* commit enjoys. It decays
   linearly with the age of the earlier model (round block minus its commit block) from
   `epsilon_start` to `epsilon_end` over `epsilon_decay_blocks`, then stays at `epsilon_end`:
   a fresh incumbent is protected against a copy-plus-noise, an old one can be overtaken by
   any real improvement, and a late joiner is never penalised by more than `epsilon_end`.
2. `competitive_uids` - the clone filter. A model is dropped (its round weight is zero) when
   an earlier model (earlier commit block, then lower uid) has the same content hash, or when
   it does not beat every earlier model by at least the fully decayed epsilon
   (`loss < earlier_loss * (1 - epsilon_end)`). The earliest commit always keeps its place.
3. `win_rates` - every pair of competitive models is compared once (`later_commit_wins`).
   With `a` the earlier of the two, the later `b` wins only if
   `loss_b < loss_a * (1 - epsilon(age_a))`; otherwise `a` wins (an exact tie goes to the
   earlier commit). Win rate = wins / (competitors - 1);
   a lone competitor has win rate 1.
4. `round_weights` - winner-take-all (the best win rate gets 1; ties go to the earlier
   commit, then the lower uid) or a softmax of win rates with the competition's temperature.
   A competition may require a winner to be at least as accurate as its base model
   (`below_base`): a less accurate model keeps its win rate (ranking stays on loss) but gets
   no round weight, and the weight goes to the best of the others.
5. `ema_update` - `ema = alpha * round + (1 - alpha) * ema`. With winner-take-all rounds a new
   best model overtakes the old one after `handover_rounds(alpha)` consecutive wins.
6. `combine_competitions` - each competition's EMA is normalised, multiplied by its reward
   share, summed, and normalised again; `weights_to_u16` turns the result into the u16 values
   the chain stores (max-upscaled, as subtensor does).

Ordering is deterministic everywhere: the "earlier" of two models is the one with the lower
commit block, then the lower uid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

U16_MAX = 65_535

Weighting = Literal["winner_take_all", "softmax"]


@dataclass(frozen=True)
class Entry:
    """One eligible submission in one competition and round.

    `loss` is None when the submission has no usable score (a miner fault): it takes part
    (its round weight is zero) but is never a comparand for the others.
    """

    uid: int
    block: int  # the block of the on-chain commitment
    loss: float | None
    content_hash: str | None = None

    @property
    def valid(self) -> bool:
        return self.loss is not None and math.isfinite(self.loss)

    @property
    def order(self) -> tuple[int, int]:
        """Sort key: earlier commit first, then lower uid."""
        return (self.block, self.uid)


@dataclass(frozen=True)
class ScoringParams:
    """The scoring knobs of one competition (see `competitions.Competition`)."""

    epsilon_start: float
    epsilon_end: float
    epsilon_decay_blocks: int
    weighting: Weighting = "winner_take_all"
    softmax_temperature: float = 0.05
    ema_alpha: float = 0.5
    reward_share: float = 1.0

    @classmethod
    def from_competition(cls, competition: object) -> "ScoringParams":
        return cls(
            epsilon_start=competition.epsilon_start,  # type: ignore[attr-defined]
            epsilon_end=competition.epsilon_end,  # type: ignore[attr-defined]
            epsilon_decay_blocks=competition.epsilon_decay_blocks,  # type: ignore[attr-defined]
            weighting=competition.weighting,  # type: ignore[attr-defined]
            softmax_temperature=competition.softmax_temperature,  # type: ignore[attr-defined]
            ema_alpha=competition.ema_alpha,  # type: ignore[attr-defined]
            reward_share=competition.reward_share,  # type: ignore[attr-defined]
        )


def epsilon(age_blocks: int, start: float, end: float, decay_blocks: int) -> float:
    """The earlier model's advantage at `age_blocks`: linear from `start` to `end`, then flat."""
    if decay_blocks <= 0:
        return end
    progress = min(max(age_blocks, 0) / decay_blocks, 1.0)
    return start - (start - end) * progress


def epsilon_for(entry: Entry, round_block: int, params: ScoringParams) -> float:
    return epsilon(round_block - entry.block, params.epsilon_start, params.epsilon_end, params.epsilon_decay_blocks)


def competitive_uids(entries: Iterable[Entry], epsilon_end: float) -> list[int]:
    """The clone filter: uids (in commit order) that beat every earlier valid model by `epsilon_end`."""
    ordered = sorted((e for e in entries if e.valid), key=lambda e: e.order)
    kept: list[int] = []
    for index, entry in enumerate(ordered):
        earlier = ordered[:index]
        is_clone = any(
            (entry.content_hash is not None and entry.content_hash == other.content_hash)
            or not entry.loss < other.loss * (1.0 - epsilon_end)  # type: ignore[operator]
            for other in earlier
        )
        if not is_clone:
            kept.append(entry.uid)
    return kept


def later_commit_wins(
    later_loss: float, earlier_loss: float, earlier_block: int, round_block: int, params: ScoringParams
) -> bool:
    """Does a model committed after another beat it in the round at `round_block`?

    "After" is the `Entry.order`: a later block, or the same block and a higher uid. The
    earlier commit keeps its advantage `epsilon(round_block - earlier_block)`: the later one
    wins only with `later_loss < earlier_loss * (1 - epsilon)`; a tie, or any gain within epsilon,
    goes to the earlier commit. Every pairwise comparison of a round is this one (`beats`), and
    it is what a miner checks before committing a new model against the incumbent.
    """
    eps = epsilon(round_block - earlier_block, params.epsilon_start, params.epsilon_end, params.epsilon_decay_blocks)
    return later_loss < earlier_loss * (1.0 - eps)


def beats(a: Entry, b: Entry, round_block: int, params: ScoringParams) -> bool:
    """Does `a` win its comparison with `b`? The earlier model keeps the epsilon advantage."""
    if a.uid == b.uid:
        raise ValueError("a model is not compared with itself")
    earlier, later = (a, b) if a.order < b.order else (b, a)
    later_wins = later_commit_wins(later.loss, earlier.loss, earlier.block, round_block, params)  # type: ignore[arg-type]
    return a.uid == (later.uid if later_wins else earlier.uid)


def win_rates(entries: Iterable[Entry], round_block: int, params: ScoringParams) -> dict[int, float]:
    """uid -> fraction of pairwise comparisons won, over the given (valid) entries."""
    pool = sorted((e for e in entries if e.valid), key=lambda e: e.order)
    if not pool:
        return {}
    if len(pool) == 1:
        return {pool[0].uid: 1.0}
    wins = {e.uid: 0 for e in pool}
    for i, a in enumerate(pool):
        for b in pool[i + 1 :]:
            winner = a if beats(a, b, round_block, params) else b
            wins[winner.uid] += 1
    return {uid: count / (len(pool) - 1) for uid, count in wins.items()}


def round_weights(
    rates: Mapping[int, float],
    order: Mapping[int, tuple[int, int]],
    weighting: Weighting = "winner_take_all",
    temperature: float = 0.05,
) -> dict[int, float]:
    """Round weights (summing to 1, or empty) from win rates; `order` gives each uid's sort key."""
    if not rates:
        return {}
    if weighting == "winner_take_all":
        best = min(rates, key=lambda uid: (-rates[uid], order.get(uid, (0, uid))))
        return {uid: (1.0 if uid == best else 0.0) for uid in rates}
    if weighting == "softmax":
        if temperature <= 0:
            raise ValueError(f"softmax temperature must be positive, got {temperature}")
        top = max(rates.values())
        exps = {uid: math.exp((rate - top) / temperature) for uid, rate in rates.items()}
        total = sum(exps.values())
        return {uid: value / total for uid, value in exps.items()}
    raise ValueError(f"unknown weighting {weighting!r}; use 'winner_take_all' or 'softmax'")


def ema_update(
    previous: Mapping[int, float],
    current: Mapping[int, float],
    alpha: float,
    participants: Iterable[int],
    held: Iterable[int] = (),
) -> dict[int, float]:
    """Next EMA per uid.

    - a participant (an eligible submission this round, faulted or not) moves towards its
      round weight (0 when absent from `current`): `alpha * round + (1 - alpha) * previous`;
    - a `held` uid (not evaluable this round for a reason that is not its fault) keeps its value;
    - any other uid (no commitment, another competition) drops out.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"EMA alpha must be in (0, 1], got {alpha}")
    held_set = set(held)
    result: dict[int, float] = {}
    for uid in set(participants) - held_set:
        result[uid] = alpha * current.get(uid, 0.0) + (1.0 - alpha) * previous.get(uid, 0.0)
    for uid in held_set:
        if uid in previous:
            result[uid] = previous[uid]
    return result


def handover_rounds(alpha: float) -> int:
    """Consecutive winner-take-all wins a new best needs before its EMA exceeds the old best's.

    Starting from old = 1, new = 0, after k rounds new = 1 - (1 - alpha)^k and old = (1 - alpha)^k,
    so k is the smallest integer with (1 - alpha)^k < 1/2 (alpha 0.5 -> 2, 0.3 -> 2, 0.1 -> 7).
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"EMA alpha must be in (0, 1], got {alpha}")
    if alpha == 1.0:
        return 1
    k = 1
    while (1.0 - alpha) ** k >= 0.5:
        k += 1
    return k


def below_base(accuracies: Mapping[int, float | None], base_accuracy: float | None) -> set[int]:
    """The accuracy gate: uids whose measured accuracy is below the base model's, who may not win.

    Accuracy is a gate, not a rank: the gated models are still compared on loss. A uid whose
    accuracy was not measured this round (its evaluation was held) is not gated, and nobody is
    when the base model's accuracy is unknown.
    """
    if base_accuracy is None or not math.isfinite(base_accuracy):
        return set()
    return {
        uid for uid, accuracy in accuracies.items()
        if accuracy is not None and math.isfinite(accuracy) and accuracy < base_accuracy
    }


def normalize(weights: Mapping[int, float]) -> dict[int, float]:
    """Scale non-negative weights to sum to 1; all-zero (or empty) stays all-zero."""
    for uid, value in weights.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight of uid {uid} must be finite and non-negative, got {value}")
    total = sum(weights.values())
    if total <= 0:
        return {uid: 0.0 for uid in weights}
    return {uid: value / total for uid, value in weights.items()}


def combine_competitions(
    per_competition: Mapping[str, Mapping[int, float]], shares: Mapping[str, float]
) -> dict[int, float]:
    """Each competition's weights normalised, times its reward share, summed, normalised.

    A competition without any positive weight contributes nothing; the final normalisation
    hands its share to the others.
    """
    combined: dict[int, float] = {}
    for competition_id, weights in per_competition.items():
        share = shares.get(competition_id, 0.0)
        if share <= 0:
            continue
        for uid, value in normalize(weights).items():
            combined[uid] = combined.get(uid, 0.0) + share * value
    return normalize(combined)


def weight_vector(weights: Mapping[int, float], n: int) -> list[float]:
    """A dense, normalised vector over uids 0..n-1 (uids outside the range are dropped)."""
    dense = {uid: weights.get(uid, 0.0) for uid in range(n)}
    normalised = normalize(dense)
    return [normalised[uid] for uid in range(n)]


def weights_to_u16(weights: Sequence[float]) -> list[int]:
    """The u16 values the chain stores: scaled so the largest becomes 65535, rounded half up."""
    for value in weights:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weights must be finite and non-negative, got {value}")
    top = max(weights, default=0.0)
    if top <= 0:
        return [0 for _ in weights]
    return [min(U16_MAX, int(math.floor(value / top * U16_MAX + 0.5))) for value in weights]


def u16_to_weights(values: Sequence[int]) -> list[float]:
    """Back from u16 to proportions summing to 1 (all-zero stays all-zero)."""
    total = sum(values)
    return [v / total if total else 0.0 for v in values]


@dataclass(frozen=True)
class UidScore:
    """What scoring decided for one uid in one competition round."""

    uid: int
    loss: float | None
    epsilon: float  # this model's own advantage over later commits this round
    competitive: bool  # survived the clone filter
    win_rate: float
    round_weight: float
    ema: float
    below_base: bool = False  # less accurate than the base model where the competition requires it: cannot win


@dataclass(frozen=True)
class CompetitionScores:
    """The result of scoring one competition for one round."""

    round_block: int
    scores: dict[int, UidScore] = field(default_factory=dict)
    ema: dict[int, float] = field(default_factory=dict)

    @property
    def round_winner(self) -> int | None:
        winners = [s.uid for s in self.scores.values() if s.round_weight > 0]
        return max(winners, key=lambda uid: self.scores[uid].round_weight) if winners else None


def score_competition(
    entries: Sequence[Entry],
    params: ScoringParams,
    round_block: int,
    previous_ema: Mapping[int, float] | None = None,
    held: Iterable[int] = (),
    barred: Iterable[int] = (),
) -> CompetitionScores:
    """Run the whole pipeline (clone filter, win rates, round weights, EMA) for one competition.

    `barred` uids (see `below_base`) keep their win rates but take no round weight.
    """
    uids = [e.uid for e in entries]
    if len(set(uids)) != len(uids):
        raise ValueError("each uid may appear at most once per competition round")
    keep = set(competitive_uids(entries, params.epsilon_end))
    pool = [e for e in entries if e.uid in keep]
    rates = win_rates(pool, round_block, params)
    order = {e.uid: e.order for e in entries}
    barred_set = set(barred)
    allowed = {uid: rate for uid, rate in rates.items() if uid not in barred_set}
    weights = round_weights(allowed, order, params.weighting, params.softmax_temperature)
    ema = ema_update(previous_ema or {}, weights, params.ema_alpha, uids, held)
    scores = {
        e.uid: UidScore(
            uid=e.uid,
            loss=e.loss if e.valid else None,
            epsilon=epsilon_for(e, round_block, params),
            competitive=e.uid in keep,
            win_rate=rates.get(e.uid, 0.0),
            round_weight=weights.get(e.uid, 0.0),
            ema=ema.get(e.uid, 0.0),
            below_base=e.uid in barred_set,
        )
        for e in entries
    }
    return CompetitionScores(round_block=round_block, scores=scores, ema=ema)
