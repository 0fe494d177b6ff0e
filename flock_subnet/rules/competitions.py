"""The competitions: the built-in definitions and those an operator adds, looked up by id.

A competition is data (`rules.competition_types.Competition`), defined in a file that
`rules.competition_schema` validates. The built-in ones (`local`: the tiny-model kit on this
machine, tests and the demo; `qwen05b`: the production competition on a 0.5B instruct model)
ship as package data in `flock_subnet/rules/builtin/`, read through `importlib.resources`
like code: versioned with the release and the same on every install. Operator files are read
outside the rules (`flock_subnet.tasks.catalog`) and added with `register_competitions`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources

from flock_subnet.rules.competition_schema import competition_from_dict
from flock_subnet.rules.competition_types import (
    BaseModel,
    Competition,
    CompetitionFileError,
    DeclaredDigest,
    ScheduleState,
    UnknownCompetition,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "BUILTIN_IDS",
    "COMPETITIONS",
    "LOCAL",
    "QWEN_05B",
    "BaseModel",
    "Competition",
    "CompetitionFileError",
    "DeclaredDigest",
    "ScheduleState",
    "UnknownCompetition",
    "active_competitions",
    "default_competitions",
    "get_competition",
    "register_competitions",
    "schedule_note",
]

BUILTIN_IDS = ("local", "qwen05b")


def _builtin(competition_id: str) -> Competition:
    resource = resources.files("flock_subnet.rules").joinpath("builtin", f"{competition_id}.toml")
    return competition_from_dict(tomllib.loads(resource.read_text(encoding="utf-8")), f"builtin/{competition_id}.toml")


class CompetitionRegistry(Mapping[str, Competition]):
    """Id -> competition: the built-ins, then operator definitions (which may not reuse a built-in id)."""

    def __init__(self, builtins: Iterable[Competition]) -> None:
        self._items: dict[str, Competition] = {c.id: c for c in builtins}
        self._builtin = frozenset(self._items)

    def __getitem__(self, competition_id: str) -> Competition:
        return self._items[competition_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, competition: Competition, source: str = "") -> None:
        where = f" ({source})" if source else ""
        if competition.id in self._builtin:
            raise CompetitionFileError(f"competition id {competition.id!r}{where} is built in; choose another id")
        existing = self._items.get(competition.id)
        if existing is not None and existing != competition:
            raise CompetitionFileError(f"competition {competition.id!r}{where} is defined twice, differently")
        self._items[competition.id] = competition


COMPETITIONS = CompetitionRegistry(_builtin(competition_id) for competition_id in BUILTIN_IDS)
LOCAL = COMPETITIONS["local"]
QWEN_05B = COMPETITIONS["qwen05b"]


def register_competitions(competitions: Iterable[tuple[Competition, str]]) -> list[Competition]:
    """Add operator competitions (with the file each came from); returns them."""
    added = []
    for competition, source in competitions:
        COMPETITIONS.add(competition, source)
        added.append(competition)
    return added


def default_competitions(local_chain: bool) -> list[Competition]:
    """What a validator scores when not told: everything on the local chain, production ones elsewhere."""
    return [c for c in COMPETITIONS.values() if local_chain or c.production]


def active_competitions(competitions: Iterable[Competition], block: int) -> list[Competition]:
    """Those whose schedule includes `block` (started, not yet ended)."""
    return [c for c in competitions if c.is_active(block)]


def schedule_note(competition: Competition, block: int) -> str:
    """Why `competition` is not scored at `block` ("" while it is active): what the round reports."""
    state = competition.schedule_state(block)
    if state is ScheduleState.UPCOMING:
        return f"competition {competition.id!r} starts at block {competition.start_block}; not scored before it"
    if state is ScheduleState.ENDED:
        return f"competition {competition.id!r} ended at block {competition.end_block}; no longer scored or weighted"
    return ""


def get_competition(competition_id: str) -> Competition:
    try:
        return COMPETITIONS[competition_id]
    except KeyError:
        known = ", ".join(sorted(COMPETITIONS))
        raise UnknownCompetition(
            f"unknown competition {competition_id!r}; known competitions: {known} "
            "(add one from a file with --competitions-file or FLOCK_COMPETITIONS)"
        ) from None
