"""Helpers for the pm2 tests: polling and a test ecosystem built from the project's own one."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def write_test_ecosystem(path: Path, name: str, control: Path, starts: Path, **options) -> Path:
    """An ecosystem built with the project's own `neuronApp`, running `fake_neuron.py`."""
    overrides = {"exp_backoff_restart_delay": 100, "kill_timeout": 3000, **options}
    app = {
        "name": name,
        "script": str(ROOT / "tests" / "ops" / "fake_neuron.py"),
        "env": {"FLOCK_TEST_CONTROL": str(control), "FLOCK_TEST_STARTS": str(starts)},
        **overrides,
    }
    path.write_text(
        f"const eco = require({json.dumps(str(ROOT / 'scripts' / 'ecosystem.config.js'))});\n"
        f"module.exports = {{ apps: [eco.neuronApp({json.dumps(app)})] }};\n"
    )
    return path
