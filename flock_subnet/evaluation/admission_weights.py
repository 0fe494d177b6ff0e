"""Admission checks on a checkpoint's safetensors weights, from verified headers and raw bytes.

The weights must be one `model.safetensors` or the shards a `model.safetensors.index.json` lists
(and nothing else), every header must pass `safetensors_header.read_header`, the tensors must be
exactly those the config implies (`admission_arch`), the parameter count and dtypes must be within
the competition's limits, and every float value must be finite. No tensor is loaded into a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flock_subnet.evaluation.admission_arch import ConfigError, compare_tensors, expected_tensors, model_shape
from flock_subnet.evaluation.admission_config import MAX_JSON_BYTES, parse_json
from flock_subnet.evaluation.safetensors_header import (
    HeaderError,
    SafetensorsHeader,
    TensorInfo,
    read_header,
    scan_non_finite,
)
from flock_subnet.models.params import parameter_count
from flock_subnet.rules.competitions import Competition

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
_MAX_LISTED = 5


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _check_layout(root: Path, weight_files: list[str], has_index: bool, reasons: list[str]) -> dict[str, str] | None:
    """The index's tensor -> shard map (None without an index); layout problems become reasons."""
    if not has_index:
        if weight_files and weight_files != [SINGLE_FILE]:
            reasons.append(
                f"weights must be in {SINGLE_FILE} or in shards listed by {INDEX_FILE}; found {_listed(weight_files)}"
            )
        return None
    with open(root / INDEX_FILE, "rb") as handle:
        data = handle.read(MAX_JSON_BYTES + 1)
    index, problem = parse_json(INDEX_FILE, data)
    if index is None:
        reasons.append(problem or f"{INDEX_FILE} is unreadable")
        return None
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        reasons.append(f"{INDEX_FILE} must have a 'weight_map' of tensor names to shard file names")
        return None
    shards = sorted(set(weight_map.values()))
    missing = [s for s in shards if s not in weight_files]
    unlisted = [f for f in weight_files if f not in shards]
    if missing:
        reasons.append(f"{INDEX_FILE} lists shard(s) that are not in the folder: {_listed([s[:80] for s in missing])}")
    if unlisted:
        reasons.append(f"weight file(s) {_listed(unlisted)} are not listed in {INDEX_FILE} and would never be loaded")
    return weight_map


def check_weights(
    root: Path,
    files: Mapping[str, int],
    competition: Competition,
    config: Mapping[str, Any] | None,
    architecture: str | None,
    scan_values: bool,
    reasons: list[str],
) -> int | None:
    """Append every weights problem to `reasons`; return the parameter count when all headers are valid."""
    weight_files = sorted(n for n in files if n.endswith(".safetensors"))
    if not weight_files:
        reasons.append("no .safetensors weights in the folder; save the model with safe_serialization=True")
    weight_map = _check_layout(root, weight_files, INDEX_FILE in files, reasons)

    headers: list[SafetensorsHeader] = []
    headers_ok = bool(weight_files)
    for name in weight_files:
        try:
            headers.append(read_header(root / name))
        except HeaderError as exc:
            headers_ok = False
            reasons.append(f"{exc}")

    tensors: dict[str, TensorInfo] = {}
    located: dict[str, str] = {}
    duplicates: list[str] = []
    for header in headers:
        for tensor in header.tensors:
            if tensor.name in tensors:
                duplicates.append(tensor.name)
            tensors[tensor.name] = tensor
            located[tensor.name] = header.path.name
    if duplicates:
        reasons.append(f"tensor(s) stored in more than one shard: {_listed(sorted(set(duplicates)))}")
    if weight_map is not None and headers_ok:
        misplaced = sorted(n for n in set(weight_map) | set(located) if weight_map.get(n) != located.get(n))
        if misplaced:
            reasons.append(f"{INDEX_FILE} does not match the shards' contents for: {_listed(misplaced)}")

    parameters = sum(t.numel for t in tensors.values()) if headers_ok else None
    if parameters is not None and parameters > competition.max_parameters:
        reasons.append(
            f"weights hold {parameters} parameters, more than competition {competition.id!r} allows "
            f"({competition.max_parameters})"
        )
    bad_dtypes = sorted({t.dtype_name for t in tensors.values()} - set(competition.dtypes))
    if bad_dtypes:
        reasons.append(
            f"weights use dtype(s) {', '.join(bad_dtypes)}; competition {competition.id!r} admits "
            f"{', '.join(competition.dtypes)}"
        )

    if config is not None and architecture is not None:
        try:
            shape = model_shape(config, architecture)
        except ConfigError as exc:
            reasons.append(str(exc))
        else:
            implied = parameter_count(shape)
            if parameters is None and implied > competition.max_parameters:
                reasons.append(
                    f"config.json implies {implied} parameters, more than competition {competition.id!r} allows "
                    f"({competition.max_parameters})"
                )
            if headers_ok:
                actual = {name: t.shape for name, t in tensors.items()}
                reasons.extend(compare_tensors(expected_tensors(shape), actual))

    if scan_values and headers_ok and not bad_dtypes:
        non_finite = [name for header in headers for name in scan_non_finite(header)]
        if non_finite:
            reasons.append(f"{len(non_finite)} tensor(s) hold NaN or infinite values: {_listed(sorted(non_finite))}")
    return parameters
