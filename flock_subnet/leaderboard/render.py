"""Fill the Jinja2 templates shipped in `templates/`: one function per page, and the whole site at once.

Pages link to each other with relative paths (`index.html`, `delegators.html`, `miners/<uid>.html`,
`style.css`, `leaderboard.json`), so the exported folder works from any web server or from disk,
and the live server answers the same paths.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from flock_subnet.leaderboard import charts, fmt
from flock_subnet.leaderboard.model import Board

DEFAULT_REFRESH_S = 12
STYLESHEET = "style.css"
DATA_FILE = "leaderboard.json"


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("flock_subnet.leaderboard", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        alpha=fmt.alpha,
        percent=fmt.percent,
        loss=fmt.loss,
        ratio=fmt.ratio,
        count=fmt.count,
        blocks=fmt.blocks,
        block_age=fmt.block_age,
        ago=fmt.ago,
        wall_time=fmt.wall_time,
        short_key=fmt.short_key,
        short_hash=fmt.short_hash,
        block_when=lambda block, board: fmt.block_wall_time(block, board.block, board.generated_at),
    )
    return env


def _page(template: str, root: str, live: bool, refresh_s: int, **values: Any) -> str:
    values.setdefault("error", None)
    return environment().get_template(template).render(root=root, live=live, refresh_s=refresh_s, **values)


def index_page(board: Board, live: bool = False, refresh_s: int = DEFAULT_REFRESH_S, error: str | None = None) -> str:
    drawn = {
        c.competition.id: {
            "wide": charts.leader_chart(f"chart-{c.competition.id}", c.competition.id, c.rounds),
            "narrow": charts.leader_chart(f"chart-{c.competition.id}-narrow", c.competition.id, c.rounds, charts.NARROW),
        }
        for c in board.competitions
    }
    return _page("index.html", "", live, refresh_s, board=board, page="index", charts=drawn, error=error)


def delegators_page(board: Board, live: bool = False, refresh_s: int = DEFAULT_REFRESH_S, error: str | None = None) -> str:
    return _page("delegators.html", "", live, refresh_s, board=board, page="delegators", error=error)


def miner_page(board: Board, uid: int, live: bool = False, refresh_s: int = DEFAULT_REFRESH_S,
               error: str | None = None) -> str | None:
    """The page of `uid`, or None when the board has no page for it."""
    page = board.miners.get(uid)
    if page is None:
        return None
    competition = next((c for c in board.competitions if c.competition.id == page.competition_id), None)
    own = sorted((s.round_block, s.loss) for s in page.scores if s.loss is not None and math.isfinite(s.loss))
    leading = competition.rounds if competition else ()
    chart = {
        "wide": charts.miner_chart(f"chart-uid-{uid}", uid, own, leading),
        "narrow": charts.miner_chart(f"chart-uid-{uid}-narrow", uid, own, leading, charts.NARROW),
    } if own else None
    tasks = sorted({task for s in page.scores for task in s.per_task})
    return _page(
        "miner.html", "../", live, refresh_s, board=board, page="miner", m=page, chart=chart, tasks=tasks,
        standings_count=len(competition.standings) if competition else 0, error=error,
    )


def error_page(message: str, live: bool = True, refresh_s: int = DEFAULT_REFRESH_S) -> str:
    return _page("error.html", "", live, refresh_s, board=None, page="error", error=message)


@functools.lru_cache(maxsize=1)
def stylesheet() -> str:
    return resources.files("flock_subnet.leaderboard").joinpath("templates", STYLESHEET).read_text(encoding="utf-8")


def jsonable(value: Any) -> Any:
    """Dataclasses, mappings and sequences as plain JSON values (non-finite floats become null, other
    objects their text)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def board_json(board: Board) -> str:
    return json.dumps(jsonable(board), indent=1, sort_keys=False) + "\n"


def site(board: Board, live: bool = False, refresh_s: int = DEFAULT_REFRESH_S) -> dict[str, str]:
    """Every file of the site: relative path -> text."""
    files = {
        "index.html": index_page(board, live, refresh_s),
        "delegators.html": delegators_page(board, live, refresh_s),
        STYLESHEET: stylesheet(),
        DATA_FILE: board_json(board),
    }
    for uid in board.miners:
        files[f"miners/{uid}.html"] = miner_page(board, uid, live, refresh_s)  # type: ignore[assignment]
    return files
