"""The tensors a Llama or Qwen2 causal LM must contain, computed from its `config.json` alone.

Admission compares a checkpoint's safetensors headers with this list: a missing, extra or
mis-shaped tensor means the weights do not belong to the architecture the config names, which
would fail (or silently half-load) in the evaluator. The config is read into a `ModelShape` by
`models.params.model_shape`, which also counts the parameters it implies. Pure functions over
plain dicts; no torch, no transformers, nothing from the checkpoint is imported or executed.
"""

from __future__ import annotations

from collections.abc import Mapping

from flock_subnet.models.params import (
    ARCHITECTURE_MODEL_TYPES,
    MLP_LINEARS,
    ConfigError,
    ModelShape,
    has_bias,
    layer_linears,
    model_shape,
)

__all__ = [
    "ARCHITECTURE_MODEL_TYPES",
    "ConfigError",
    "ModelShape",
    "compare_tensors",
    "expected_tensors",
    "model_shape",
]


def expected_tensors(shape: ModelShape) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of every weight `save_pretrained` writes for this model.

    With tied word embeddings `lm_head.weight` is not stored (it is `model.embed_tokens.weight`).
    """
    h, v = shape.hidden_size, shape.vocab_size
    tensors: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
    if not shape.tie_word_embeddings:
        tensors["lm_head.weight"] = (v, h)
    linears = layer_linears(shape)
    for layer in range(shape.num_layers):
        p = f"model.layers.{layer}."
        tensors[p + "input_layernorm.weight"] = (h,)
        tensors[p + "post_attention_layernorm.weight"] = (h,)
        for name, (fan_in, fan_out) in linears.items():
            module = p + ("mlp." if name in MLP_LINEARS else "self_attn.") + name
            tensors[module + ".weight"] = (fan_out, fan_in)
            if has_bias(shape, name):
                tensors[module + ".bias"] = (fan_out,)
    return tensors


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
