"""Parameter, LoRA-adapter and forward-FLOP counts of a Llama or Qwen2 decoder, from its config alone.

`model_shape` reads the sizes a `config.json` declares into a `ModelShape`, checking every field
(admission reads hostile configs with it), and the counts are plain arithmetic over that shape:

- token embeddings, and the output head again unless it is tied to them;
- attention: q and o of `num_heads * head_dim`, k and v of `num_kv_heads * head_dim` (grouped-
  query attention), with the biases the architecture has (Qwen2: q/k/v always; Llama: all four
  with `attention_bias`);
- the gated MLP (gate, up, down), with biases under Llama's `mlp_bias`;
- RMSNorm weights: two per layer and the final one.

`shape_problems` names dimensions that do not agree the way the architecture requires;
`models.costs` turns a shape into what evaluating one round costs in memory and FLOPs.

Nothing is built, downloaded or imported beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flock_subnet.errors import FlockError

LLAMA = "LlamaForCausalLM"
QWEN2 = "Qwen2ForCausalLM"

# Architecture class name -> the model_type its config must declare.
ARCHITECTURE_MODEL_TYPES: dict[str, str] = {LLAMA: "llama", QWEN2: "qwen2"}

# Sanity bounds on the config's sizes, far above any model a competition admits, so the
# arithmetic stays cheap whatever a hostile config declares.
_MAX_DIM = 1 << 20
_MAX_LAYERS = 1024

ALL_LINEAR = "all-linear"  # peft's LoRA target: every linear layer of the decoder, not the output head
ATTENTION_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_LINEARS = ("gate_proj", "up_proj", "down_proj")


class ConfigError(FlockError):
    """A config.json that does not describe a supported model; the message says which field."""


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer, as its config declares them."""

    architecture: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tie_word_embeddings: bool
    attention_bias: bool  # q/k/v/o biases (Llama's `attention_bias`)
    qkv_bias: bool  # q/k/v biases only (always on for Qwen2)
    mlp_bias: bool

    @property
    def q_out(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_out(self) -> int:
        return self.num_kv_heads * self.head_dim


def _positive_int(config: Mapping[str, object], key: str, default: object = None, limit: int = _MAX_DIM) -> int:
    value = config.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= limit:
        raise ConfigError(f"config.json field {key!r} must be a positive integer of at most {limit}, got {value!r}")
    return value


def _flag(config: Mapping[str, object], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"config.json field {key!r} must be true or false, got {value!r}")
    return value


def _declared_architecture(config: Mapping[str, object]) -> str:
    architectures = config.get("architectures")
    if isinstance(architectures, list) and len(architectures) == 1 and isinstance(architectures[0], str):
        return architectures[0]
    raise ConfigError(f"config.json must name one architecture in 'architectures' (e.g. [{LLAMA!r}]), got {architectures!r}")


def model_shape(config: Mapping[str, object], architecture: str | None = None) -> ModelShape:
    """Read the sizes of `architecture` (default: the config's own) from `config`; `ConfigError` names the first bad field."""
    architecture = architecture or _declared_architecture(config)
    if architecture not in ARCHITECTURE_MODEL_TYPES:
        known = ", ".join(sorted(ARCHITECTURE_MODEL_TYPES))
        raise ConfigError(f"architecture {architecture!r} is not supported; supported: {known}")
    hidden = _positive_int(config, "hidden_size")
    heads = _positive_int(config, "num_attention_heads")
    kv_heads = _positive_int(config, "num_key_value_heads", heads)
    if heads % kv_heads:
        raise ConfigError(f"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv_heads})")
    default_head_dim = hidden // heads if hidden % heads == 0 else None
    head_dim = _positive_int(config, "head_dim", default_head_dim)
    is_qwen2 = architecture == QWEN2
    return ModelShape(
        architecture=architecture,
        vocab_size=_positive_int(config, "vocab_size"),
        hidden_size=hidden,
        intermediate_size=_positive_int(config, "intermediate_size"),
        num_layers=_positive_int(config, "num_hidden_layers", limit=_MAX_LAYERS),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        tie_word_embeddings=_flag(config, "tie_word_embeddings", False),
        attention_bias=False if is_qwen2 else _flag(config, "attention_bias", False),
        qkv_bias=is_qwen2,
        mlp_bias=False if is_qwen2 else _flag(config, "mlp_bias", False),
    )


def layer_linears(shape: ModelShape) -> dict[str, tuple[int, int]]:
    """The linear layers of one decoder layer: module name -> (in_features, out_features)."""
    h, i = shape.hidden_size, shape.intermediate_size
    return {
        "q_proj": (h, shape.q_out),
        "k_proj": (h, shape.kv_out),
        "v_proj": (h, shape.kv_out),
        "o_proj": (shape.q_out, h),
        "gate_proj": (h, i),
        "up_proj": (h, i),
        "down_proj": (i, h),
    }


def has_bias(shape: ModelShape, linear: str) -> bool:
    """Whether the linear layer `linear` (a `layer_linears` name) of `shape` carries a bias."""
    if linear in MLP_LINEARS:
        return shape.mlp_bias
    return shape.attention_bias or (shape.qkv_bias and linear != "o_proj")


def _linear_parameters(shape: ModelShape, names: Iterable[str]) -> int:
    linears = layer_linears(shape)
    total = 0
    for name in names:
        fan_in, fan_out = linears[name]
        total += fan_in * fan_out + (fan_out if has_bias(shape, name) else 0)
    return total


@dataclass(frozen=True)
class ParameterCount:
    """A model's parameters by part."""

    embeddings: int
    head: int  # the output layer; 0 when tied to the embeddings
    attention: int  # q/k/v/o weights and biases, all layers
    mlp: int  # gate/up/down weights and biases, all layers
    norms: int  # two RMSNorm weights per layer and the final one

    @property
    def total(self) -> int:
        return self.embeddings + self.head + self.attention + self.mlp + self.norms


def parameter_breakdown(shape: ModelShape) -> ParameterCount:
    """The parameters `shape` implies, by part (tied embeddings counted once)."""
    embeddings = shape.vocab_size * shape.hidden_size
    return ParameterCount(
        embeddings=embeddings,
        head=0 if shape.tie_word_embeddings else embeddings,
        attention=shape.num_layers * _linear_parameters(shape, ATTENTION_LINEARS),
        mlp=shape.num_layers * _linear_parameters(shape, MLP_LINEARS),
        norms=(2 * shape.num_layers + 1) * shape.hidden_size,
    )


def parameter_count(shape: ModelShape) -> int:
    """The number of parameters `shape` implies (what `sum(p.numel() for p in model.parameters())` gives)."""
    return parameter_breakdown(shape).total


def lora_parameter_count(shape: ModelShape, rank: int, targets: str | Iterable[str] = ALL_LINEAR) -> int:
    """Adapter parameters of LoRA with `rank` on `targets` ("all-linear" or module names): r x (in + out) each."""
    linears = layer_linears(shape)
    if isinstance(targets, str):
        names = set(linears) if targets == ALL_LINEAR else {targets}
    else:
        names = set(targets)
    unknown = sorted(names - set(linears))
    if unknown:
        raise ValueError(
            f"LoRA target(s) {', '.join(unknown)} are not linear layers of this model; "
            f"use {ALL_LINEAR!r} or some of {', '.join(linears)}"
        )
    return shape.num_layers * sum(rank * (linears[name][0] + linears[name][1]) for name in names)


def forward_flops_per_token(shape: ModelShape, context: int = 0, with_head: bool = True) -> int:
    """Floating-point operations of one token's forward pass: 2 per weight of every matrix product.

    The decoder's linear layers, the attention over `context` earlier positions (scores and
    weighted sum: 4 x heads x head_dim per position and layer), and the output layer when
    `with_head` (the evaluator applies it to answer positions only). Embedding lookups, norms,
    biases and activations are left out: together well under 1% of the total.
    """
    linears = sum(fan_in * fan_out for fan_in, fan_out in layer_linears(shape).values())
    attention = 4 * shape.q_out * max(0, context)
    head = 2 * shape.vocab_size * shape.hidden_size if with_head else 0
    return shape.num_layers * (2 * linears + attention) + head


# ------------------------------------------------------------------- dimensions that must agree


def shape_problems(shape: ModelShape) -> list[str]:
    """Reasons the dimensions of `shape` do not agree the way its architecture requires (empty: they do).

    Llama and Qwen2 split the hidden state into `num_attention_heads` heads of `head_dim` each,
    rotate pairs of a head's dimensions (so `head_dim` is even), and share each key/value head
    between a whole number of query heads.
    """
    problems = []
    if shape.num_heads * shape.head_dim != shape.hidden_size:
        problems.append(
            f"num_attention_heads x head_dim ({shape.num_heads} x {shape.head_dim}) must equal hidden_size "
            f"({shape.hidden_size}) for {shape.architecture}"
        )
    if shape.head_dim % 2:
        problems.append(f"head_dim ({shape.head_dim}) must be even: rotary embeddings rotate pairs of dimensions")
    if shape.num_heads % shape.num_kv_heads:
        problems.append(
            f"num_attention_heads ({shape.num_heads}) must be a multiple of num_key_value_heads ({shape.num_kv_heads})"
        )
    return problems
