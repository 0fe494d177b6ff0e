"""The tensors a Llama or Qwen2 causal LM must contain, computed from its `config.json` alone.

Admission compares a checkpoint's safetensors headers with this list: a missing, extra or
mis-shaped tensor means the weights do not belong to the architecture the config names, which
would fail (or silently half-load) in the evaluator. Pure functions over plain dicts; no torch,
no transformers, nothing from the checkpoint is imported or executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flock_subnet.errors import FlockError

# Architecture class name -> the model_type its config must declare.
ARCHITECTURE_MODEL_TYPES: dict[str, str] = {
    "LlamaForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
}

# Sanity bounds on the config's sizes, far above any model a competition admits, so computing
# the expected tensor list stays cheap whatever a hostile config declares.
_MAX_DIM = 1 << 20
_MAX_LAYERS = 1024


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


def model_shape(config: Mapping[str, object], architecture: str) -> ModelShape:
    """Read the sizes of `architecture` from `config`; `ConfigError` names the first bad field."""
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
    is_qwen2 = architecture == "Qwen2ForCausalLM"
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


def expected_tensors(shape: ModelShape) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of every weight `save_pretrained` writes for this model.

    With tied word embeddings `lm_head.weight` is not stored (it is `model.embed_tokens.weight`).
    """
    h, v, i = shape.hidden_size, shape.vocab_size, shape.intermediate_size
    q_out = shape.num_heads * shape.head_dim
    kv_out = shape.num_kv_heads * shape.head_dim
    tensors: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
    if not shape.tie_word_embeddings:
        tensors["lm_head.weight"] = (v, h)
    for layer in range(shape.num_layers):
        p = f"model.layers.{layer}."
        tensors[p + "input_layernorm.weight"] = (h,)
        tensors[p + "post_attention_layernorm.weight"] = (h,)
        tensors[p + "self_attn.q_proj.weight"] = (q_out, h)
        tensors[p + "self_attn.k_proj.weight"] = (kv_out, h)
        tensors[p + "self_attn.v_proj.weight"] = (kv_out, h)
        tensors[p + "self_attn.o_proj.weight"] = (h, q_out)
        if shape.attention_bias or shape.qkv_bias:
            tensors[p + "self_attn.q_proj.bias"] = (q_out,)
            tensors[p + "self_attn.k_proj.bias"] = (kv_out,)
            tensors[p + "self_attn.v_proj.bias"] = (kv_out,)
        if shape.attention_bias:
            tensors[p + "self_attn.o_proj.bias"] = (h,)
        tensors[p + "mlp.gate_proj.weight"] = (i, h)
        tensors[p + "mlp.up_proj.weight"] = (i, h)
        tensors[p + "mlp.down_proj.weight"] = (h, i)
        if shape.mlp_bias:
            tensors[p + "mlp.gate_proj.bias"] = (i,)
            tensors[p + "mlp.up_proj.bias"] = (i,)
            tensors[p + "mlp.down_proj.bias"] = (h,)
    return tensors


def expected_parameters(shape: ModelShape) -> int:
    """The parameter count the config implies, without building the tensor list."""
    h, v, i = shape.hidden_size, shape.vocab_size, shape.intermediate_size
    q_out = shape.num_heads * shape.head_dim
    kv_out = shape.num_kv_heads * shape.head_dim
    per_layer = 2 * h + 2 * q_out * h + 2 * kv_out * h + 3 * i * h
    if shape.attention_bias or shape.qkv_bias:
        per_layer += q_out + 2 * kv_out
    if shape.attention_bias:
        per_layer += h
    if shape.mlp_bias:
        per_layer += 2 * i + h
    embeddings = v * h * (1 if shape.tie_word_embeddings else 2)
    return embeddings + h + shape.num_layers * per_layer


def compare_tensors(
    expected: Mapping[str, tuple[int, ...]], actual: Mapping[str, tuple[int, ...]], limit: int = 5
) -> list[str]:
    """Reasons for missing, extra and mis-shaped tensors (at most `limit` names listed per kind)."""

    def names(items: list[str]) -> str:
        shown = ", ".join(items[:limit])
        return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")

    reasons = []
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = sorted(n for n in set(expected) & set(actual) if tuple(expected[n]) != tuple(actual[n]))
    if missing:
        reasons.append(f"weights lack {len(missing)} tensor(s) the config requires: {names(missing)}")
    if extra:
        reasons.append(f"weights hold {len(extra)} tensor(s) the config does not define: {names(extra)}")
    if wrong:
        details = [f"{n} is {list(actual[n])}, config implies {list(expected[n])}" for n in wrong]
        reasons.append(f"{len(wrong)} tensor(s) have the wrong shape: {names(details)}")
    return reasons
