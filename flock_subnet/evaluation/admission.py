"""Safe admission of a miner's checkpoint: decide from file listings, headers and bytes alone.

A validator runs untrusted checkpoints, so nothing here unpickles, imports, or asks a library to
load the model. Three stages, each usable on its own:

1. `check_remote_files` -- before downloading: only safetensors weights, config and tokenizer
   files (`checkpoint.is_model_file`), plain names (letters, digits, `.`, `_`, `-`), and byte
   totals within the competition's budget. Hub extras (`.gitattributes`, `README.md`) are
   ignored and never downloaded.
2. `check_model_dir` -- on a local folder: only allowed regular files, bounded JSON, the
   competition's architecture without custom code, a config whose forward pass is admitted and
   fits the round's memory and FLOPs budget (`admission_forward`), safetensors headers verified
   by hand (`safetensors_header`), tensors exactly those the config implies, parameter count and
   dtypes within limits, every value finite, the base model's vocabulary and tokenizer bytes,
   and the content hash (and, when given, the hotkey-salted hash) from `checkpoint`.
3. `admit_reference` -- the validator's path for an on-chain reference: list, refuse, download
   at exactly the committed sha with a byte cap, then check the folder.

Every problem the miner is to blame for becomes a reason in the report (all of them, where it is
safe to keep looking); a failing hub (`fault == Fault.VALIDATOR`) raises, so the caller retries
later and the miner is not punished.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flock_subnet.errors import Fault, FlockError
from flock_subnet.evaluation import admission_weights
from flock_subnet.evaluation.admission_config import (
    MAX_JSON_BYTES,
    check_config,
    code_references,
    parse_json,
)
from flock_subnet.evaluation.safetensors_header import MAX_HEADER_BYTES
from flock_subnet.hub.base import HubError, ModelHub, RemoteFile
from flock_subnet.models import checkpoint
from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.protocol import ModelReference

DOWNLOAD_PATTERNS: list[str] = list(checkpoint.MODEL_FILE_PATTERNS)
MAX_FILES = 256  # far more than any checkpoint needs (a sharded 0.5B model has < 10)
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")
_CODE_SUFFIXES = (".py", ".pyc", ".so", ".dll", ".dylib", ".sh", ".ipynb")
_MAX_LISTED = 8
_MAX_NAME = 128
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,%d}" % (_MAX_NAME - 1))
_REFERENCE_MEMO: dict[tuple[str, str, str | None], dict[str, bytes]] = {}


class AdmissionError(FlockError):
    """Admission could not run (not the miner's fault): a bad destination or a missing reference."""


@dataclass
class AdmissionReport:
    """The verdict: `ok` only when `reasons` is empty; hashes and counts when they could be computed."""

    ok: bool
    reasons: list[str] = field(default_factory=list)
    content_hash: str | None = None
    parameters: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weights_byte_budget(competition: Competition, weight_files: int = 1) -> int:
    """The most bytes safetensors weights of `max_parameters` float32 values can need."""
    return competition.max_parameters * 4 + max(1, weight_files) * (8 + MAX_HEADER_BYTES)


def _refusal_hint(name: str) -> str:
    lower = name.lower()
    if lower.endswith(_PICKLE_SUFFIXES):
        return "pickled or non-safetensors weights are never loaded; save with safe_serialization=True"
    if lower.endswith(_CODE_SUFFIXES):
        return "code files are never run; submit only weights, config and tokenizer files"
    return "only safetensors weights, config.json, generation_config.json and tokenizer files are allowed"


def _bad_name(name: str) -> str | None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or ".." in name or "\0" in name:
        return f"file name {name[:120]!r} contains a path separator or '..'; checkpoints are flat folders"
    if not _PLAIN_NAME.fullmatch(name):
        return (
            f"file name {name[:120]!r} is not a plain name; use only letters, digits, '.', '_' and '-' "
            f"(at most {_MAX_NAME} characters), as save_pretrained writes them"
        )
    return None


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def check_remote_files(files: list[RemoteFile], competition: Competition) -> list[str]:
    """Reasons to refuse a repository from its file listing alone; an empty list means download it."""
    reasons: list[str] = []
    if len(files) > MAX_FILES:
        return [f"repository has {len(files)} files, more than {MAX_FILES}; publish only the checkpoint folder"]
    model: list[RemoteFile] = []
    for remote in files:
        name = remote.name
        if checkpoint.is_ignored_file(name):
            continue
        problem = _bad_name(name)
        if problem is not None:
            reasons.append(problem)
        elif not checkpoint.is_model_file(name):
            reasons.append(f"{name[:120]} is not allowed: {_refusal_hint(name)}")
        elif not isinstance(remote.size, int) or remote.size < 0:
            reasons.append(f"{name} has no valid size in the listing ({remote.size!r})")
        else:
            model.append(remote)
    names = {f.name for f in model}
    weights = [f for f in model if f.name.endswith(".safetensors")]
    if not weights:
        reasons.append("no .safetensors weights at this revision; save the model with safe_serialization=True")
    if "config.json" not in names:
        reasons.append("no config.json at this revision; upload the folder written by save_pretrained")
    total = sum(f.size for f in model)
    if total > competition.max_bytes:
        reasons.append(
            f"model files total {total} bytes, more than competition {competition.id!r} allows ({competition.max_bytes})"
        )
    weight_bytes = sum(f.size for f in weights)
    budget = weights_byte_budget(competition, len(weights))
    if weight_bytes > budget:
        reasons.append(
            f"weights total {weight_bytes} bytes, more than {competition.max_parameters} float32 parameters "
            f"can need ({budget})"
        )
    return reasons


def _read_bounded(path: Path, limit: int) -> bytes | None:
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


def _read_json(
    root: Path, name: str, files: Mapping[str, int], limit: int = MAX_JSON_BYTES
) -> tuple[dict[str, Any] | None, str | None]:
    if files[name] > limit:
        return None, f"{name} has {files[name]} bytes, more than the {limit}-byte limit for JSON files"
    data = _read_bounded(root / name, limit)
    if data is None:
        return None, f"{name} grew past the {limit}-byte limit while being read"
    return parse_json(name, data, limit)


def _list_folder(root: Path, reasons: list[str]) -> tuple[dict[str, int], list[str]]:
    """(model file name -> size for the plain files in `root`, names of symlinks); other entries become reasons."""
    files: dict[str, int] = {}
    links: list[str] = []
    refused: list[str] = []
    with os.scandir(root) as entries:
        for count, entry in enumerate(entries):
            if count >= 10_000:
                reasons.append("folder holds more than 10000 entries; not inspected further")
                break
            name = entry.name
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                links.append(name)
                reasons.append(f"{name[:120]} is a symbolic link; checkpoints must hold plain files inside the folder")
            elif stat.S_ISDIR(info.st_mode):
                reasons.append(f"{name[:120]}/ is a sub-folder; checkpoints are flat folders")
            elif not stat.S_ISREG(info.st_mode):
                reasons.append(f"{name[:120]} is not a regular file")
            elif checkpoint.is_ignored_file(name):
                continue
            elif _bad_name(name) is not None:
                reasons.append(str(_bad_name(name)))
            elif not checkpoint.is_model_file(name):
                refused.append(name)
            else:
                files[name] = info.st_size
    for name in sorted(refused)[:_MAX_LISTED]:
        reasons.append(f"{name[:120]} is not allowed: {_refusal_hint(name)}")
    if len(refused) > _MAX_LISTED:
        reasons.append(f"... and {len(refused) - _MAX_LISTED} more files that are not allowed")
    if len(files) > MAX_FILES:
        reasons.append(f"folder has {len(files)} model files, more than {MAX_FILES}")
    return files, links


def _check_tokenizer(
    root: Path, files: Mapping[str, int], reference: Mapping[str, bytes], reasons: list[str]
) -> None:
    present = sorted(n for n in files if n in checkpoint.TOKENIZER_FILES)
    if not present:
        return  # the evaluator uses the base tokenizer
    wanted = sorted(n for n in reference if n in checkpoint.TOKENIZER_FILES)
    differing = []
    for name in present:
        expected = reference.get(name)
        if expected is None:
            reasons.append(f"{name} is not part of the base model's tokenizer; keep the base tokenizer files unchanged")
            continue
        if files[name] != len(expected) or _read_bounded(root / name, len(expected)) != expected:
            differing.append(name)
    if differing:
        reasons.append(
            f"tokenizer file(s) {_listed(differing)} differ from the base model's; copy the base tokenizer files unchanged"
        )
    missing = [n for n in wanted if n not in files]
    if missing:
        reasons.append(f"tokenizer is incomplete, missing the base model's {_listed(missing)}; ship all of them or none")
    if "tokenizer_config.json" in files:
        parsed, _ = _read_json(root, "tokenizer_config.json", files, 4 * MAX_JSON_BYTES)
        if parsed is not None:
            reasons.extend(code_references("tokenizer_config.json", parsed))


def check_model_dir(
    model_dir: str | Path,
    competition: Competition,
    hotkey: str,
    salted_hash: str | None = None,
    *,
    reference_files: Mapping[str, bytes] | None = None,
    cache_dir: str | Path | None = None,
    hub: ModelHub | None = None,
) -> AdmissionReport:
    """Check a local checkpoint folder without executing or unpickling anything in it.

    `reference_files` maps file names to the base model's bytes: its tokenizer files (compared
    byte for byte) and its `config.json` (for `model_type` and `vocab_size`). When omitted they
    come from `load_reference_files(competition, cache_dir, hub)`.
    """
    root = Path(model_dir)
    if not root.is_dir():
        return AdmissionReport(False, [f"{root} is not a folder; pass the checkpoint folder written by save_pretrained"])
    if reference_files is None:
        reference_files = load_reference_files(competition, cache_dir, hub)
    if "config.json" not in reference_files:
        raise AdmissionError(
            "reference_files must include the base model's config.json; build them with admission.load_reference_files"
        )
    reasons: list[str] = []
    files, links = _list_folder(root, reasons)
    total = sum(files.values())
    within_budget = total <= competition.max_bytes
    if not within_budget:
        reasons.append(
            f"model files total {total} bytes, more than competition {competition.id!r} allows ({competition.max_bytes})"
        )

    base_config, problem = parse_json("base config.json", reference_files["config.json"])
    if base_config is None:
        raise AdmissionError(f"the base model's config.json is unusable: {problem}")
    config: dict[str, Any] | None = None
    architecture = None
    if "config.json" not in files:
        reasons.append("config.json is missing; save the model with save_pretrained")
    else:
        config, problem = _read_json(root, "config.json", files)
        if config is None:
            reasons.append(problem or "config.json is unreadable")
        else:
            architecture, config_reasons = check_config(config, competition, base_config)
            reasons.extend(config_reasons)
    if "generation_config.json" in files:
        parsed, problem = _read_json(root, "generation_config.json", files)
        reasons.extend(code_references("generation_config.json", parsed) if parsed is not None else [str(problem)])

    _check_tokenizer(root, files, reference_files, reasons)
    parameters = admission_weights.check_weights(
        root, files, competition, config, architecture, scan_values=within_budget, reasons=reasons
    )

    content_hash = None
    if within_budget and not links and any(name.endswith(".safetensors") for name in files):
        try:
            content_hash = checkpoint.content_hash(root)
        except checkpoint.CheckpointError as exc:
            reasons.append(str(exc))
    if salted_hash is not None:
        if content_hash is None:
            reasons.append("salted hash cannot be verified because the content hash could not be computed")
        elif checkpoint.salted_hash(content_hash, hotkey) != salted_hash.lower():
            reasons.append(
                f"salted hash does not match: the committed {salted_hash[:16]}... is not sha256(content hash || {hotkey}); "
                "commit the hash of exactly these files under your own hotkey"
            )
    return AdmissionReport(not reasons, reasons, content_hash, parameters)


def load_reference_files(
    competition: Competition, cache_dir: str | Path | None = None, hub: ModelHub | None = None
) -> dict[str, bytes]:
    """The base model's `config.json` and tokenizer files, by name, from the tiny-model kit or the hub.

    The base is built or downloaded into `cache_dir` (`modelkit.base_model_dir`). Without a
    `cache_dir` it goes to a temporary folder and the result is remembered for the life of the
    process, keyed by the base model.
    """
    import tempfile

    from flock_subnet.models import tiny as modelkit

    if cache_dir is None:
        key = (competition.base.repo_id, competition.base.revision, competition.base.tiny)
        if key not in _REFERENCE_MEMO:
            with tempfile.TemporaryDirectory(prefix="flock-base-") as tmp:
                _REFERENCE_MEMO[key] = load_reference_files(competition, tmp, hub)
        return dict(_REFERENCE_MEMO[key])
    base = Path(modelkit.base_model_dir(competition, Path(cache_dir), hub=hub))
    wanted = ("config.json",) + checkpoint.TOKENIZER_FILES
    reference = {name: (base / name).read_bytes() for name in wanted if (base / name).is_file()}
    if "config.json" not in reference:
        raise AdmissionError(f"the base model folder {base} has no config.json; rebuild it or clear {cache_dir}")
    return reference


def _fresh_folder(dest: Path) -> None:
    if dest.is_symlink():
        raise AdmissionError(f"download folder {dest} is a symbolic link; pass a real folder the validator owns")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)


def admit_reference(
    hub: ModelHub,
    reference: ModelReference,
    hotkey: str,
    dest: str | Path,
    competition: Competition,
    reference_files: Mapping[str, bytes] | None = None,
    cache_dir: str | Path | None = None,
) -> AdmissionReport:
    """Fetch and check the model a miner committed; `dest` is emptied and receives the files.

    Raises `HubError` with `fault == Fault.VALIDATOR` when the hub fails (retry later, no miner is at fault).
    A missing repo or revision, a private repo or oversized files come back as `ok=False`.
    """
    if reference.competition_id != competition.id:
        return AdmissionReport(
            False, [f"reference is for competition {reference.competition_id!r}, not {competition.id!r}"]
        )
    try:
        listing = hub.files(reference.repo_id, reference.revision)
    except HubError as exc:
        if exc.fault == Fault.VALIDATOR:
            raise
        return AdmissionReport(False, [f"cannot list {reference.short}: {exc}"])
    reasons = check_remote_files(listing, competition)
    if reasons:
        return AdmissionReport(False, reasons)
    if reference_files is None:
        reference_files = load_reference_files(competition, cache_dir, hub)
    dest = Path(dest)
    _fresh_folder(dest)
    try:
        folder = hub.download(
            reference.repo_id,
            reference.revision,
            dest,
            allow_patterns=DOWNLOAD_PATTERNS,
            max_bytes=competition.max_bytes,
        )
    except HubError as exc:
        if exc.fault == Fault.VALIDATOR:
            raise
        return AdmissionReport(False, [f"cannot download {reference.short}: {exc}"])
    return check_model_dir(
        folder, competition, hotkey, reference.salted_hash, reference_files=reference_files
    )
