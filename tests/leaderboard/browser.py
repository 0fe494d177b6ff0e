"""Drive Debian's `chromium` headless: dump a page's DOM after it loaded, or take a screenshot.

A missing browser fails the test with what to do; it is never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars", "--disable-dev-shm-usage",
)
MISSING = (
    "Debian's chromium is not installed, so the leaderboard cannot be checked in a real browser: install it with "
    "`apt-get install -y chromium` as root, or run `bash scripts/test.sh`, which installs it when it can "
    "(set FLOCK_CHROMIUM to use another Chromium binary)"
)


def chromium() -> str:
    explicit = os.environ.get("FLOCK_CHROMIUM")
    if explicit:
        if not Path(explicit).is_file():
            pytest.fail(f"FLOCK_CHROMIUM={explicit} does not exist; {MISSING}")
        return explicit
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(MISSING)


def _run(args: list[str], timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="flock-chromium-") as profile:
        proc = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout,
        )
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc


def dump_dom(url: str, width: int = 1280, height: int = 1600, allow_file_access: bool = False) -> str:
    """The page's DOM as the browser built it (after scripts ran, within a few seconds of virtual time)."""
    extra = ["--allow-file-access-from-files"] if allow_file_access else []
    proc = _run([f"--window-size={width},{height}", "--virtual-time-budget=5000", *extra, "--dump-dom", url])
    assert "<html" in proc.stdout, f"chromium printed no DOM for {url}: {proc.stderr[-2000:]}"
    return proc.stdout


def screenshot(url: str, path: Path, width: int = 1280, height: int = 1600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--window-size={width},{height}", f"--screenshot={path}", url])
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"no PNG screenshot at {path}"
    return path
