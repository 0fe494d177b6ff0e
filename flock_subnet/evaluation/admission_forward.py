"""Admission checks on what a config.json makes the evaluator compute, before anything is loaded.

A config inside the parameter cap can still make every forward pass exhaust memory or time, or
switch the model onto code paths nobody scored the base model with. So a checkpoint's config is
admitted only when:

- every key is one this version knows for the architecture (`ADMITTED_KEYS`); an unknown key
  could change what the loader builds;
- the keys that change the forward pass have admitted values: `hidden_act` one of
  `ACTIVATIONS`, rotary embeddings exactly the base model's, sliding-window attention off
  unless the base uses it, Llama's `pretraining_tp` 1, numbers finite and in range;
- its dimensions agree the way the architecture requires (`models.params.shape_problems`);
- evaluating one round of the competition fits its budget in memory and FLOPs
  (`models.costs.competition_cost` against `competition_budget`: the base model's cost,
  scaled to `max_parameters`).

Pure functions over parsed JSON; nothing from the checkpoint is imported or executed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flock_subnet.models.costs import (
    competition_budget,
    competition_cost,
    cost_problems,
)
from flock_subnet.models.params import (
    LLAMA,
    QWEN2,
    ConfigError,
    model_shape,
    shape_problems,
)
from flock_subnet.rules.competitions import Competition

ACTIVATIONS = ("silu", "gelu", "gelu_pytorch_tanh", "relu")

_SHAPE_KEYS = {
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "tie_word_embeddings",
}
_METADATA_KEYS = {
    "architectures", "model_type", "transformers_version", "dtype", "torch_dtype", "bos_token_id",
    "eos_token_id", "pad_token_id", "use_cache", "initializer_range", "max_position_embeddings", "_name_or_path",
}
_FORWARD_KEYS = {"hidden_act", "rms_norm_eps", "attention_dropout", "rope_parameters", "rope_scaling", "rope_theta", "layer_types"}
ADMITTED_KEYS: dict[str, frozenset[str]] = {
    LLAMA: frozenset(_SHAPE_KEYS | _METADATA_KEYS | _FORWARD_KEYS | {"attention_bias", "mlp_bias", "pretraining_tp"}),
    QWEN2: frozenset(
        _SHAPE_KEYS | _METADATA_KEYS | _FORWARD_KEYS | {"use_sliding_window", "sliding_window", "max_window_layers"}
    ),
}
_DTYPES = ("float32", "bfloat16", "float16")
_LAYER_TYPES = ("full_attention", "sliding_attention")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rope_settings(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The rotary-embedding settings a config means, however its transformers version wrote them."""
    raw = config.get("rope_parameters")
    if raw is None:
        raw = config.get("rope_scaling")
    if raw is not None and not isinstance(raw, dict):
        return None
    rope = dict(raw or {})
    if "type" in rope and "rope_type" not in rope:
        rope["rope_type"] = rope.pop("type")
    rope.setdefault("rope_type", "default")
    rope.setdefault("rope_theta", config.get("rope_theta", 10000.0))
    if _number(rope["rope_theta"]):
        rope["rope_theta"] = float(rope["rope_theta"])
    return rope


def sliding_window_used(config: Mapping[str, Any]) -> bool:
    """Whether any layer attends over a sliding window."""
    layer_types = config.get("layer_types")
    if isinstance(layer_types, list) and "sliding_attention" in layer_types:
        return True
    return config.get("use_sliding_window") is True


def _token_id(value: Any) -> bool:
    if isinstance(value, list):
        return len(value) <= 64 and all(_token_id(v) for v in value if not isinstance(v, list))
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 31)


def _value_problems(config: Mapping[str, Any], base_config: Mapping[str, Any]) -> list[str]:
    problems = []
    act = config.get("hidden_act", "silu")
    if act not in ACTIVATIONS:
        problems.append(f"config.json hidden_act {str(act)[:40]!r} is not admitted; use one of {', '.join(ACTIVATIONS)}")
    eps = config.get("rms_norm_eps", 1e-6)
    if not _number(eps) or not 0 < eps <= 0.1:
        problems.append(f"config.json rms_norm_eps must be a number in (0, 0.1], got {str(eps)[:40]}")
    dropout = config.get("attention_dropout", 0.0)
    if not _number(dropout) or not 0 <= dropout < 1:
        problems.append(f"config.json attention_dropout must be a number in [0, 1), got {str(dropout)[:40]}")
    rope, base_rope = rope_settings(config), rope_settings(base_config)
    if rope != base_rope:
        problems.append(
            f"config.json rotary embedding settings {str(rope)[:120]} differ from the base model's {base_rope}; "
            "keep the base model's rope settings"
        )
    if sliding_window_used(config) and not sliding_window_used(base_config):
        problems.append("config.json turns on sliding-window attention, which the base model does not use; turn it off")
    layer_types = config.get("layer_types")
    if layer_types is not None and (
        not isinstance(layer_types, list) or len(layer_types) > 1024 or any(t not in _LAYER_TYPES for t in layer_types)
    ):
        problems.append(f"config.json layer_types must list {' or '.join(_LAYER_TYPES)} per layer")
    if config.get("pretraining_tp", 1) != 1:
        problems.append("config.json pretraining_tp must be 1; it changes how the forward pass splits its matrices")
    for key in ("dtype", "torch_dtype"):
        if config.get(key) is not None and config.get(key) not in _DTYPES:
            problems.append(f"config.json {key} {str(config.get(key))[:40]!r} is not one of {', '.join(_DTYPES)}")
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if not _token_id(config.get(key)):
            problems.append(f"config.json {key} must be a token id, a list of them or null")
    for key in ("max_position_embeddings", "sliding_window", "max_window_layers"):
        value = config.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 1 << 24):
            problems.append(f"config.json {key} must be a positive integer, got {str(value)[:40]}")
    if not isinstance(config.get("use_cache", True), bool):
        problems.append("config.json use_cache must be true or false")
    return problems


def forward_problems(
    config: Mapping[str, Any], architecture: str, competition: Competition, base_config: Mapping[str, Any]
) -> list[str]:
    """Reasons to refuse `config` (already known to name `architecture`) for what it makes evaluation do."""
    admitted = ADMITTED_KEYS.get(architecture)
    if admitted is None:
        return [f"architecture {architecture!r} has no admission rules in this version; upgrade flock-subnet"]
    unknown = sorted(str(k)[:60] for k in config if k not in admitted)
    problems = []
    if unknown:
        problems.append(
            f"config.json has key(s) {', '.join(unknown[:8])} that flock-subnet does not admit for {architecture}; "
            "remove them (save the base model's config with only its dimensions and weights changed)"
        )
    problems.extend(_value_problems(config, base_config))
    try:
        shape = model_shape(config, architecture)
        budget = competition_budget(base_config, competition)
    except ConfigError:
        return problems  # the weights check names the bad field
    problems.extend(shape_problems(shape))
    problems.extend(cost_problems(competition_cost(config, competition), budget))
    return problems
