"""`flock-subnet leaderboard export|serve` as a user runs them, on the local chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from flock_subnet.cli import main


def chain_flags(sample) -> list[str]:
    return ["--subtensor.chain_endpoint", f"file://{sample.chain_path}", "--netuid", "1"]


def test_export_writes_a_site_that_links_models_on_the_hub(sample, results, tmp_path, capsys):
    out = tmp_path / "site"
    workdir = sample.state_paths["validator-0"].parent
    rc = main(["leaderboard", "export", *chain_flags(sample), "--validator.workdir", str(workdir),
               "--hub.endpoint", "https://huggingface.co", "--out", str(out)])
    assert rc == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out / "index.html")
    miners = [n for n in results["neurons"] if n["role"] == "miner"]
    assert {p.name for p in (out / "miners").iterdir()} == {f"{n['uid']}.html" for n in miners}
    for name in ("index.html", "delegators.html", "style.css", "leaderboard.json"):
        assert (out / name).stat().st_size > 500
    data = json.loads((out / "leaderboard.json").read_text())
    [competition] = data["competitions"]
    assert competition["competition"]["id"] == "local" and len(competition["standings"]) == len(miners)
    top = competition["standings"][0]
    assert top["model_url"] == f"https://huggingface.co/{top['reference']['repo_id']}/tree/{top['reference']['revision']}"
    assert f'href="{top["model_url"]}"' in (out / "index.html").read_text()
    take = {d["uid"]: d["take"] for d in data["delegates"]}
    assert all(take[n["uid"]] == n["take"] for n in results["neurons"] if n["role"] == "validator")


def test_export_without_a_state_says_what_is_missing(sample, tmp_path, capsys):
    rc = main(["leaderboard", "export", *chain_flags(sample), "--out", str(tmp_path / "site")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "note: no validator state given" in printed and "--validator.workdir" in printed
    assert "no validator state given" in (tmp_path / "site" / "index.html").read_text()


def test_export_from_a_missing_chain_tells_how_to_make_one(tmp_path, capsys):
    rc = main(["leaderboard", "export", "--subtensor.chain_endpoint", f"file://{tmp_path / 'none.db'}",
               "--out", str(tmp_path / "site")])
    assert rc == 1
    assert "no local chain at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_serve_prints_its_address_and_answers_until_interrupted(sample):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flock_subnet", "leaderboard", "serve", *chain_flags(sample), "--port", "0",
         "--validator.workdir", str(sample.state_paths["validator-1"].parent)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("leaderboard at http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read().decode()
        assert response.status == 200 and 'http-equiv="refresh" content="12"' in body
        assert "validator-1/state.db" in body
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
