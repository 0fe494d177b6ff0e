"""Admission checks on a checkpoint's JSON files: bounded parsing, no custom code, right architecture.

`config.json` decides which model class a loader builds. A checkpoint is only admitted when the
config names exactly one of the competition's architectures with the matching `model_type`, has
the base model's vocabulary size, and carries nothing that would make a loader fetch or run code
(`auto_map`, `custom_pipelines`, `trust_remote_code`, `custom_generate`, a `repo--module.Class`
reference) or switch to a quantised loading path (`quantization_config`); what the config makes
the forward pass do and cost is checked by `admission_forward`. Pure functions over
bytes and dicts; nothing from the checkpoint is imported or executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flock_subnet.evaluation.admission_arch import ARCHITECTURE_MODEL_TYPES
from flock_subnet.evaluation.admission_forward import forward_problems
from flock_subnet.rules.competitions import Competition

MAX_JSON_BYTES = 1024 * 1024  # config.json of real models is a few KB

FORBIDDEN_KEYS = {
    "auto_map": "custom model code (auto_map)",
    "custom_pipelines": "custom pipeline code (custom_pipelines)",
    "trust_remote_code": "a request to run remote code (trust_remote_code)",
    "custom_generate": "custom generation code (custom_generate)",
    "quantization_config": "a quantised checkpoint (quantization_config); submit plain float weights",
}
# "namespace/repo--module.Class": how transformers points at code in another repository.
_REMOTE_CODE_RE = re.compile(r"^[\w.-]+/[\w.-]+--[\w.]+$")
_MAX_WALK_NODES = 200_000


def parse_json(name: str, data: bytes, max_bytes: int = MAX_JSON_BYTES) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) for a JSON object of at most `max_bytes`, else (None, reason)."""
    if len(data) > max_bytes:
        return None, f"{name} has {len(data)} bytes, more than the {max_bytes}-byte limit for JSON files"
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"{name} is not valid UTF-8 JSON ({type(exc).__name__}); write it with save_pretrained"
    if not isinstance(value, dict):
        return None, f"{name} must hold a JSON object, got {type(value).__name__}"
    return value, None


def code_references(name: str, document: Any) -> list[str]:
    """Reasons for every forbidden key or remote-code string anywhere in a parsed JSON document."""
    reasons: list[str] = []
    seen: set[str] = set()
    stack: list[tuple[str, Any]] = [("", document)]
    visited = 0
    while stack:
        path, node = stack.pop()
        visited += 1
        if visited > _MAX_WALK_NODES:
            reasons.append(f"{name} is too deeply nested or too large to inspect")
            break
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else str(key)
                if key in FORBIDDEN_KEYS and key not in seen:
                    seen.add(key)
                    reasons.append(f"{name} declares {FORBIDDEN_KEYS[key]} at {where!r}; code in checkpoints is never run")
                stack.append((where, value))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(node))
        elif isinstance(node, str) and _REMOTE_CODE_RE.match(node) and "remote" not in seen:
            seen.add("remote")
            reasons.append(f"{name} refers to code in another repository ({node[:80]!r} at {path!r})")
    return reasons


def check_config(
    config: Mapping[str, Any], competition: Competition, base_config: Mapping[str, Any] | None
) -> tuple[str | None, list[str]]:
    """(architecture if acceptable else None, reasons) for a parsed config.json."""
    reasons = code_references("config.json", config)
    architecture = None
    architectures = config.get("architectures")
    allowed = ", ".join(competition.architectures)
    if (
        not isinstance(architectures, list)
        or len(architectures) != 1
        or not isinstance(architectures[0], str)
    ):
        reasons.append(f"config.json 'architectures' must list exactly one class, one of: {allowed}; got {architectures!r:.120}")
    elif architectures[0] not in competition.architectures:
        reasons.append(
            f"config.json names architecture {architectures[0][:80]!r}; competition {competition.id!r} admits only {allowed}"
        )
    elif architectures[0] not in ARCHITECTURE_MODEL_TYPES:
        reasons.append(f"architecture {architectures[0]!r} has no admission rules in this version; upgrade flock-subnet")
    else:
        architecture = architectures[0]
        model_type = config.get("model_type")
        expected_type = ARCHITECTURE_MODEL_TYPES[architecture]
        if model_type != expected_type:
            reasons.append(f"config.json model_type is {str(model_type)[:40]!r}; {architecture} requires {expected_type!r}")
            architecture = None
        elif base_config is not None:
            reasons.extend(forward_problems(config, architecture, competition, base_config))
    if base_config is not None:
        base_type = base_config.get("model_type")
        if config.get("model_type") != base_type:
            reasons.append(f"config.json model_type {str(config.get('model_type'))[:40]!r} is not the base model's {base_type!r}")
        base_vocab = base_config.get("vocab_size")
        if config.get("vocab_size") != base_vocab:
            reasons.append(
                f"config.json vocab_size is {str(config.get('vocab_size'))[:20]}, the base model's is {base_vocab}; "
                "keep the base tokenizer and embedding size"
            )
    return architecture, reasons
