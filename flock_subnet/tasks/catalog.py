"""Competition files on disk: read, parse by suffix, validate, and add to the registry.

`.toml`, `.json`, `.yaml`/`.yml` files hold one competition each (the schema is
`rules.competition_schema`); a folder contributes every such file in it, in name order.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from flock_subnet.rules.competition_schema import competition_from_dict
from flock_subnet.rules.competitions import (
    Competition,
    CompetitionFileError,
    register_competitions,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SUFFIXES = (".toml", ".json", ".yaml", ".yml")


def _parse(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CompetitionFileError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from exc


def load_competition_file(path: str | Path) -> Competition:
    """One validated competition from a TOML, JSON or YAML file."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise CompetitionFileError(f"{path}: a competition file must end in {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise CompetitionFileError(f"{path}: no such file")
    return competition_from_dict(_parse(path, path.read_text(encoding="utf-8")), str(path))


def competition_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their competition files (name order)."""
    found: list[Path] = []
    for entry in paths:
        entry = Path(entry).expanduser()
        if entry.is_dir():
            found.extend(sorted(p for p in entry.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()))
        elif entry.exists():
            found.append(entry)
        else:
            raise CompetitionFileError(f"{entry}: no such competition file or folder")
    return found


def load_operator_competitions(paths: Iterable[str | Path]) -> list[Competition]:
    """Validate and register every competition under `paths`; returns them."""
    loaded = [(load_competition_file(path), str(path)) for path in competition_paths(paths)]
    return register_competitions(loaded)
