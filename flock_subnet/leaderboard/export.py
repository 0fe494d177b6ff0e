"""Write the leaderboard as a static site: a folder any web server (or a browser, from disk) can show."""

from __future__ import annotations

import os
from pathlib import Path

from flock_subnet.errors import FlockError
from flock_subnet.leaderboard.model import Board
from flock_subnet.leaderboard.render import site


def export_site(board: Board, out_dir: str | Path) -> Path:
    """Write every page of `board` under `out_dir` (created if missing); returns the path of index.html.

    Each file is written next to its final name and renamed into place, so a web server serving
    the folder never hands out half a page.
    """
    root = Path(out_dir).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for relative, text in site(board).items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
    except OSError as exc:
        raise FlockError(f"cannot write the leaderboard to {root}: {exc}; choose a writable folder with --out") from exc
    return root / "index.html"
