"""A competition from an operator's file is known inside the sandboxed worker, not only in the parent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flock_subnet.cli import main
from flock_subnet.rules.competitions import COMPETITIONS

LOCAL_FILE = Path(__file__).resolve().parents[2] / "flock_subnet" / "rules" / "builtin" / "local.toml"


@pytest.fixture
def operator_file(tmp_path, monkeypatch) -> Path:
    """`local`'s definition under another id, in an operator's file; the registry and env restored after."""
    monkeypatch.setattr(COMPETITIONS, "_items", dict(COMPETITIONS._items))
    monkeypatch.setenv("FLOCK_COMPETITIONS", "")  # restored (unset) after the test, whatever the command exports
    text = LOCAL_FILE.read_text()
    text = re.sub(r'^id = "local"$', 'id = "local-operator"', text, flags=re.MULTILINE)
    text = re.sub(r"^\[digest\]\n(?:[^\[\n].*\n)*", "", text, flags=re.MULTILINE)  # its own data have no declared digest
    path = tmp_path / "local-operator.toml"
    path.write_text(text)
    return path


def test_eval_in_the_sandbox_knows_an_operator_competition(operator_file, tiny_model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path must still reach the worker, which runs elsewhere
    args = [str(tiny_model_dir), "--competition", "local-operator", "--seed", "5", "--samples", "6",
            "--accuracy-samples", "0", "--json", "--competitions-file", operator_file.name]
    assert main(["eval", *args]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert main(["eval", *args, "--sandbox"]) == 0
    sandboxed = json.loads(capsys.readouterr().out)
    assert sandboxed["competition"] == "local-operator" and sandboxed["samples"] == 6
    assert sandboxed["loss"] == pytest.approx(direct["loss"], abs=1e-6)
