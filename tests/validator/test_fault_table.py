"""The "whose fault is it" table in docs/validators.md names code that exists and the numbers it uses."""

from __future__ import annotations

import re
from pathlib import Path

from flock_subnet.evaluation.admission_forward import ACTIVATIONS
from flock_subnet.hub import huggingface

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "docs" / "validators.md").read_text()
    start = text.index("## 8. Whose fault is it")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_every_file_the_table_names_exists():
    section = _section()
    paths = set(re.findall(r"`((?:[a-z_]+/)+[a-z_*]+\.py)`", section))
    assert paths
    for path in paths:
        assert list((ROOT / "flock_subnet").glob(path)), path


def test_the_table_quotes_the_code_numbers():
    section = _section()
    assert ", ".join(f"`{a}`" for a in ACTIVATIONS[:-1]) + f", `{ACTIVATIONS[-1]}`" in section
    assert huggingface.MIN_BYTES_PER_S == 2 * 1024 * 1024 and "2 MiB/s" in section
    assert f"at least\n{huggingface.MIN_DEADLINE_S:g} s" in section
    assert f"{huggingface.DEFAULT_TIMEOUT_S:g} s read timeout" in section
