"""The competition file schema: a parsed TOML/JSON/YAML document -> a validated `Competition`.

Pure: the caller reads and parses the file; `competition_from_dict` checks every key and
raises one `CompetitionFileError` that lists every problem with its key path and what to
write instead. The layout (see `flock_subnet/rules/builtin/*.toml` and docs/subnet-owners.md):

    id, description, production, architectures, max_parameters, max_bytes, sequence_length,
    samples_per_round, round_length_blocks, eval_delay_blocks, reward_share, weighting,
    softmax_temperature, ema_alpha, max_held_rounds, dtypes, eval_batch_tokens, private_pool
    [base] repo_id, revision, tiny          [epsilon] start, end, decay_blocks
    [schedule] start_block, end_block       [digest] seed, n, sha256
    [accuracy] samples, at_least_base       [tasks.<name>] weight, config = {...}
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from flock_subnet.rules.competition_types import BaseModel, Competition, CompetitionFileError, DeclaredDigest
from flock_subnet.rules.data.generators import GENERATORS
from flock_subnet.rules.data.hidden import POOL_TASK
from flock_subnet.rules.data.samples import DataError
from flock_subnet.rules.data.tasks import TASKS

_REQUIRED = object()
MIN_PRODUCTION_SAMPLES = 1024
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,23}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOP = {
    "id", "description", "production", "architectures", "max_parameters", "max_bytes", "sequence_length",
    "samples_per_round", "round_length_blocks", "eval_delay_blocks", "reward_share", "weighting",
    "softmax_temperature", "ema_alpha", "max_held_rounds", "dtypes", "eval_batch_tokens", "private_pool", "base", "epsilon",
    "schedule", "digest", "accuracy", "tasks",
}  # fmt: skip
_SECTIONS = {
    "base": {"repo_id", "revision", "tiny"},
    "epsilon": {"start", "end", "decay_blocks"},
    "schedule": {"start_block", "end_block"},
    "digest": {"seed", "n", "sha256"},
    "accuracy": {"samples", "at_least_base"},
}
_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table", list: "a list"}


class _Reader:
    """Collects problems instead of stopping at the first one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def unknown_keys(self, table: Mapping[str, Any], known: set[str], prefix: str) -> None:
        for key in sorted(set(table) - known):
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
            self.problem(f"{prefix}{key}", f"unknown key{hint}")

    def get(self, table: Mapping[str, Any], key: str, kind: type, default: Any = _REQUIRED, prefix: str = "") -> Any:
        path = prefix + key
        if key not in table or table[key] is None:
            if default is _REQUIRED:
                self.problem(path, f"required: write {_KIND_NAMES[kind]}")
            return None if default is _REQUIRED else default
        value = table[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.problem(path, f"expected {_KIND_NAMES[kind]}, got {value!r}")
            return None if default is _REQUIRED else default
        return value

    def check(self, ok: bool, path: str, message: str) -> None:
        if not ok:
            self.problem(path, message)


def _section(reader: _Reader, data: Mapping[str, Any], name: str, required: bool = False) -> Mapping[str, Any]:
    table = reader.get(data, name, dict, _REQUIRED if required else {})
    if table is None:
        return {}
    reader.unknown_keys(table, _SECTIONS[name], f"{name}.")
    return table


def _tasks(reader: _Reader, data: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    table = reader.get(data, "tasks", dict)
    weights: dict[str, float] = {}
    configs: dict[str, Any] = {}
    for name, entry in sorted((table or {}).items()):
        path = f"tasks.{name}"
        if not isinstance(entry, dict):
            reader.problem(path, "expected a table with 'weight' (and 'config' for a generator)")
            continue
        reader.unknown_keys(entry, {"weight", "config"}, f"{path}.")
        weight = reader.get(entry, "weight", float, 1.0, f"{path}.")
        reader.check(weight is None or weight > 0, f"{path}.weight", "must be positive")
        config = reader.get(entry, "config", dict, {}, f"{path}.")
        if name in GENERATORS:
            try:
                configs[name] = MappingProxyType(GENERATORS[name].config(config))
            except DataError as exc:
                reader.problem(f"{path}.config", str(exc))
        elif name in TASKS or name == POOL_TASK:
            reader.check(not config, f"{path}.config", f"task {name!r} takes no settings")
        else:
            known = sorted(set(TASKS) | set(GENERATORS) | {POOL_TASK})
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            reader.problem(path, f"unknown task; {hint}tasks are {', '.join(known)}")
        weights[name] = weight or 1.0
    reader.check(bool(weights) or table is None, "tasks", "a competition needs at least one task")
    return weights, configs


def competition_from_dict(data: Mapping[str, Any], source: str = "<competition>") -> Competition:
    """A validated `Competition` from a parsed document, or `CompetitionFileError` listing every problem."""
    reader = _Reader(source)
    if not isinstance(data, Mapping):
        raise CompetitionFileError(f"{source}: a competition file must hold one table of keys, got {type(data).__name__}")
    reader.unknown_keys(data, _TOP, "")
    cid = reader.get(data, "id", str)
    reader.check(cid is None or bool(_ID.match(cid)), "id", "use 1-24 lowercase letters, digits, '-' or '_'")
    base = _section(reader, data, "base", required=True)
    epsilon = _section(reader, data, "epsilon", required=True)
    schedule = _section(reader, data, "schedule")
    digest = _section(reader, data, "digest")
    accuracy = _section(reader, data, "accuracy")
    weights, configs = _tasks(reader, data)
    pool = reader.get(data, "private_pool", str, None)
    if pool is None:
        reader.check(POOL_TASK not in weights, "tasks.pool", "a 'pool' task needs 'private_pool' (the pool file)")
    fields: dict[str, Any] = {
        "id": cid,
        "description": reader.get(data, "description", str, ""),
        "production": reader.get(data, "production", bool, True),
        "architectures": tuple(reader.get(data, "architectures", list) or ()),
        "max_parameters": reader.get(data, "max_parameters", int),
        "max_bytes": reader.get(data, "max_bytes", int),
        "sequence_length": reader.get(data, "sequence_length", int),
        "samples_per_round": reader.get(data, "samples_per_round", int),
        "round_length_blocks": reader.get(data, "round_length_blocks", int),
        "eval_delay_blocks": reader.get(data, "eval_delay_blocks", int),
        "reward_share": reader.get(data, "reward_share", float),
        "weighting": reader.get(data, "weighting", str, "winner_take_all"),
        "softmax_temperature": reader.get(data, "softmax_temperature", float, 0.05),
        "ema_alpha": reader.get(data, "ema_alpha", float, 0.5),
        "max_held_rounds": reader.get(data, "max_held_rounds", int, 2),
        "dtypes": tuple(reader.get(data, "dtypes", list, ["float32", "bfloat16", "float16"])),
        "eval_batch_tokens": reader.get(data, "eval_batch_tokens", int, 8192),
        "public_pool": pool,
        "base": BaseModel(
            repo_id=reader.get(base, "repo_id", str, "", "base.") or "",
            revision=reader.get(base, "revision", str, "main", "base."),
            tiny=reader.get(base, "tiny", str, None, "base."),
        ),
        "epsilon_start": reader.get(epsilon, "start", float, prefix="epsilon."),
        "epsilon_end": reader.get(epsilon, "end", float, prefix="epsilon."),
        "epsilon_decay_blocks": reader.get(epsilon, "decay_blocks", int, prefix="epsilon."),
        "start_block": reader.get(schedule, "start_block", int, None, "schedule."),
        "end_block": reader.get(schedule, "end_block", int, None, "schedule."),
        "accuracy_samples": reader.get(accuracy, "samples", int, 64, "accuracy."),
        "require_accuracy_at_least_base": reader.get(accuracy, "at_least_base", bool, False, "accuracy."),
        "tasks": MappingProxyType(weights),
        "task_configs": MappingProxyType(configs),
        "data_digest": None,
    }
    if digest:
        seed = reader.get(digest, "seed", int, prefix="digest.")
        n = reader.get(digest, "n", int, prefix="digest.")
        value = reader.get(digest, "sha256", str, prefix="digest.")
        reader.check(value is None or bool(_DIGEST.match(value)), "digest.sha256", "write 'sha256:' and 64 lowercase hex digits")
        reader.check(n is None or n > 0, "digest.n", "must be positive")
        fields["data_digest"] = DeclaredDigest(seed or 0, n or 1, value or "")
    _check_values(reader, fields)
    if reader.problems:
        listed = "\n  ".join(reader.problems)
        raise CompetitionFileError(f"{source}: {len(reader.problems)} problem(s) in the competition definition:\n  {listed}")
    return Competition(**fields)


def _check_values(reader: _Reader, f: dict[str, Any]) -> None:
    def positive(key: str, path: str) -> None:
        reader.check(f[key] is None or f[key] > 0, path, "must be positive")

    for key in ("max_parameters", "max_bytes", "sequence_length", "samples_per_round", "round_length_blocks",
                "eval_batch_tokens", "accuracy_samples"):  # fmt: skip
        positive(key, key if key != "accuracy_samples" else "accuracy.samples")
    reader.check(f["eval_delay_blocks"] is None or f["eval_delay_blocks"] >= 0, "eval_delay_blocks", "must be 0 or more")
    reader.check(f["epsilon_decay_blocks"] is None or f["epsilon_decay_blocks"] > 0, "epsilon.decay_blocks", "must be positive")
    for key, path in (("epsilon_start", "epsilon.start"), ("epsilon_end", "epsilon.end")):
        reader.check(f[key] is None or 0 <= f[key] < 1, path, "must be in [0, 1)")
    reader.check(f["reward_share"] is None or 0 <= f["reward_share"] <= 1, "reward_share", "must be in [0, 1]")
    reader.check(f["ema_alpha"] is None or 0 < f["ema_alpha"] <= 1, "ema_alpha", "must be in (0, 1]")
    reader.check(
        f["max_held_rounds"] is None or 0 <= f["max_held_rounds"] <= 100, "max_held_rounds",
        "must be in [0, 100]: consecutive rounds a held uid keeps its score",
    )
    held, delay, length = f["max_held_rounds"], f["eval_delay_blocks"], f["round_length_blocks"]
    if None not in (held, delay, length) and length > 0:
        reader.check(
            held * length >= delay, "max_held_rounds",
            f"a new commitment waits {delay} blocks, more than {held} round(s) of {length} blocks: a miner "
            "updating its model would lose its score while it waits; raise max_held_rounds",
        )
    reader.check(f["weighting"] in ("winner_take_all", "softmax"), "weighting", "use 'winner_take_all' or 'softmax'")
    reader.check(bool(f["architectures"]), "architectures", "name at least one architecture, e.g. ['Qwen2ForCausalLM']")
    samples = f["samples_per_round"]
    reader.check(
        not f["production"] or samples is None or samples >= MIN_PRODUCTION_SAMPLES, "samples_per_round",
        f"a production competition scores at least {MIN_PRODUCTION_SAMPLES} samples per round "
        "(fewer makes near-ties noise); raise it or set production = false",
    )
    for key in ("architectures", "dtypes"):
        reader.check(all(isinstance(item, str) for item in f[key]), key, "write a list of strings")
    base = f["base"]
    reader.check(bool(base.repo_id) or bool(base.tiny), "base", "set 'repo_id' (a hub model) or 'tiny' (a kit preset)")
    reader.check(
        not f["require_accuracy_at_least_base"] or (f["accuracy_samples"] or 0) > 0, "accuracy.at_least_base",
        "the gate compares accuracies: set accuracy.samples above 0, or at_least_base = false",
    )
    start, end = f["start_block"], f["end_block"]
    reader.check(start is None or start >= 0, "schedule.start_block", "must be 0 or more")
    reader.check(start is None or end is None or end > start, "schedule.end_block", "must be after schedule.start_block")
