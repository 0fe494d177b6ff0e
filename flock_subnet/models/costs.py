"""What evaluating one round costs a Llama or Qwen2 decoder, in memory and FLOPs, from its config alone.

`eval_cost` counts the weights, the activation peak of one forward pass and the FLOPs of the
whole round from a `params.ModelShape` and a `RoundLoad`, so every dimension that drives
activations counts, not only the parameter count (more heads of a smaller `head_dim` hold the
same weights and far larger attention scores). `competition_cost` and `competition_budget`
apply it to a competition: admission refuses a config over the budget, and `min_compute.yml`
and `ops.compute_budget` quote the same numbers (`competition_costs`).

Pure arithmetic; nothing is built, downloaded or imported beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flock_subnet.models.params import (
    ModelShape,
    forward_flops_per_token,
    model_shape,
    parameter_count,
)
from flock_subnet.rules.competitions import Competition, get_competition


@dataclass(frozen=True)
class RoundLoad:
    """What one evaluation round asks of a model, as token counts (the inputs of `eval_cost`)."""

    round_tokens: int  # every token of the round's samples
    round_answer_tokens: int  # those the output layer is applied to
    batch_tokens: int  # tokens in one forward pass
    batch_answer_tokens: int  # answer positions of one forward pass (rows of logits)
    width: int  # the longest sequence, in tokens
    value_bytes: int = 2  # bytes per activation value: 2 in bf16 (accelerators), 4 in float32 (CPU)


def round_load(
    samples: int, sequence_length: int, batch_tokens: int, answer_share: float = 1.0, value_bytes: int = 2
) -> RoundLoad:
    """The load of `samples` sequences of at most `sequence_length` tokens, batched by `batch_tokens`.

    With the default `answer_share` of 1 every position may be an answer token: the bound a
    round's hidden samples can never exceed. A measured share (the built-in tasks: 0.18) gives
    the typical load instead.
    """
    if min(samples, sequence_length, batch_tokens, value_bytes) <= 0 or not 0 < answer_share <= 1:
        raise ValueError("a round load needs positive sizes and an answer share in (0, 1]")
    tokens = samples * sequence_length
    batch = min(batch_tokens, tokens)
    return RoundLoad(
        round_tokens=tokens,
        round_answer_tokens=max(1, round(tokens * answer_share)),
        batch_tokens=batch,
        batch_answer_tokens=max(1, round(batch * answer_share)),
        width=min(sequence_length, batch),
        value_bytes=value_bytes,
    )


@dataclass(frozen=True)
class EvalCost:
    """Memory and floating-point operations of evaluating one round, from the config alone."""

    parameters: int
    weight_bytes: int  # the weights in the evaluation's dtype
    activation_bytes: int  # the peak of one forward pass beyond the weights (see `eval_cost`)
    flops: int  # the whole round: decoder over every token, output layer over answer tokens

    @property
    def memory_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes


def activation_bytes(shape: ModelShape, load: RoundLoad) -> int:
    """The peak memory of one forward pass of `load.batch_tokens` tokens, beyond the weights.

    Under inference mode one layer's intermediates are alive at a time: the residual stream in
    and out (2 x hidden), the query/key/value projections and the attention output (2 x q +
    2 x kv), the attention scores (heads x width per token, when they are materialised), and the
    gated MLP (gate, up and their product: 3 x intermediate). The key/value cache of every layer
    holds the batch's positions (2 x kv per layer and token). Answer-position logits take the
    evaluation's dtype plus a float32 copy and a float32 log-softmax (8 more bytes per value).
    """
    tokens = load.batch_tokens
    per_layer = tokens * (
        2 * shape.hidden_size + 2 * shape.q_out + 2 * shape.kv_out + 3 * shape.intermediate_size
        + shape.num_heads * load.width
    )
    cache = shape.num_layers * 2 * shape.kv_out * tokens
    logits = load.batch_answer_tokens * shape.vocab_size * (load.value_bytes + 8)
    return load.value_bytes * (per_layer + cache) + logits


def eval_cost(shape: ModelShape, load: RoundLoad) -> EvalCost:
    """What evaluating `load` with the model `shape` describes costs in memory and FLOPs."""
    parameters = parameter_count(shape)
    decoder = forward_flops_per_token(shape, context=load.width, with_head=False)
    head = 2 * shape.vocab_size * shape.hidden_size
    return EvalCost(
        parameters=parameters,
        weight_bytes=parameters * load.value_bytes,
        activation_bytes=activation_bytes(shape, load),
        flops=decoder * load.round_tokens + head * load.round_answer_tokens,
    )


@dataclass(frozen=True)
class CostBudget:
    """The most memory and FLOPs evaluating one submission's round may take."""

    memory_bytes: int
    flops: int


def cost_budget(base: EvalCost, max_parameters: int) -> CostBudget:
    """The base model's cost, scaled by how many more parameters than the base a submission may have."""
    scale = max(1.0, max_parameters / base.parameters)
    return CostBudget(memory_bytes=int(base.memory_bytes * scale), flops=int(base.flops * scale))


def cost_problems(cost: EvalCost, budget: CostBudget) -> list[str]:
    """Reasons `cost` exceeds `budget` (empty: within it)."""
    problems = []
    if cost.memory_bytes > budget.memory_bytes:
        problems.append(
            f"evaluating a round would take {cost.memory_bytes / 2**20:,.0f} MiB ({cost.weight_bytes / 2**20:,.0f} MiB "
            f"weights, {cost.activation_bytes / 2**20:,.0f} MiB activations), over the competition's "
            f"{budget.memory_bytes / 2**20:,.0f} MiB; keep the base model's dimensions"
        )
    if cost.flops > budget.flops:
        problems.append(
            f"evaluating a round would take {cost.flops / 1e12:,.2f} TFLOP, over the competition's "
            f"{budget.flops / 1e12:,.2f} TFLOP; keep the base model's dimensions"
        )
    return problems


def competition_load(competition: Competition, answer_share: float = 1.0, value_bytes: int = 2) -> RoundLoad:
    """The load of one of `competition`'s rounds (`round_load` over its samples, length and batch budget)."""
    return round_load(
        competition.samples_per_round, competition.sequence_length, competition.eval_batch_tokens,
        answer_share, value_bytes,
    )


def competition_cost(config: Mapping[str, object], competition: Competition, answer_share: float = 1.0) -> EvalCost:
    """What evaluating one round of `competition` costs the model `config` describes (`ConfigError` if unreadable)."""
    return eval_cost(model_shape(config), competition_load(competition, answer_share))


def competition_budget(base_config: Mapping[str, object], competition: Competition) -> CostBudget:
    """`competition`'s budget: its base model's round cost, scaled up to `max_parameters`."""
    return cost_budget(competition_cost(base_config, competition), competition.max_parameters)


@dataclass(frozen=True)
class CompetitionCosts:
    """A competition's base model cost of one round (bound and typical) and its admission budget."""

    bound: EvalCost
    typical: EvalCost
    budget: CostBudget


def competition_costs(base_config: Mapping[str, object], competition_id: str, typical_answer_share: float) -> CompetitionCosts:
    """The numbers `min_compute.yml` quotes for competition `competition_id` whose base has `base_config`."""
    competition = get_competition(competition_id)
    return CompetitionCosts(
        bound=competition_cost(base_config, competition),
        typical=competition_cost(base_config, competition, typical_answer_share),
        budget=competition_budget(base_config, competition),
    )
