"""The exported leaderboard opened in a real headless Chromium: what a visitor sees matches the demo's JSON."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from flock_subnet.kit.demo.board import export_demo_leaderboard
from flock_subnet.kit.demo.run import TEMPO
from flock_subnet.leaderboard.model import BLOCKS_PER_DAY
from tests.leaderboard.browser import dump_dom, screenshot
from tests.leaderboard.dom import tables

# Where to keep the desktop screenshot besides the test's own folder (e.g. docs/leaderboard.png).
SCREENSHOT_ENV = "FLOCK_LEADERBOARD_SCREENSHOT"


def short(hotkey: str) -> str:
    return f"{hotkey[:6]}…{hotkey[-4:]}"


def expected_standings(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The standings as the demo's JSON implies them, in the documented order."""
    neurons = {n["uid"]: n for n in results["neurons"]}
    validators = sorted({v for n in results["neurons"] for v in n["weights_from"]}, key=int)
    totals = {v: sum(n["weights_from"][v] for n in results["neurons"]) for v in validators}
    stakes = {v: neurons[int(v)]["stake_rao"] for v in validators if totals[v] > 0}
    last_epoch = results["emissions_by_epoch"][-1]["emission_rao"]
    rows = []
    for n in results["neurons"]:
        if n["role"] != "miner" or not n["ref"]:
            continue
        weight = sum(stakes[v] * n["weights_from"][v] / totals[v] for v in stakes) / sum(stakes.values())
        rows.append({
            "uid": n["uid"], "hotkey": n["hotkey"], "ref": n["ref"], "loss": n["eval_loss"], "win_rate": n["win_rate"],
            "weight": weight, "incentive": n["incentive"],
            "emission_per_day": last_epoch.get(str(n["uid"]), 0) * BLOCKS_PER_DAY / TEMPO,
        })
    rows.sort(key=lambda r: (-r["incentive"], -r["weight"], r["loss"] if r["loss"] is not None else math.inf, r["uid"]))
    return rows


@pytest.fixture(scope="module")
def site(sample, tmp_path_factory) -> Path:
    """The site exactly as `flock-subnet demo` exports it at the end of its run."""
    return export_demo_leaderboard(sample.run, tmp_path_factory.mktemp("site") / "leaderboard")


def test_standings_in_the_browser_match_the_demo_json(site, results, tmp_path):
    html = dump_dom(site.as_uri())
    [table] = tables(html, "standings")
    rows = table["rows"]
    expected = expected_standings(results)
    assert [int(r.attrs["data-uid"]) for r in rows] == [e["uid"] for e in expected]
    for row, want in zip(rows, expected, strict=True):
        assert row.cell("hotkey").text == short(want["hotkey"])
        assert row.cell("model").text == want["ref"]
        if want["loss"] is None:  # held past the limit in the last round: no loss, scored as a failure
            assert row.cell("loss").value == "" and "held 3/2" in row.cell("status").text
        else:
            assert float(row.cell("loss").value) == pytest.approx(want["loss"], abs=1e-9)
            assert row.cell("loss").text == f"{want['loss']:.4f}"
        assert float(row.cell("win_rate").value) == pytest.approx(want["win_rate"], abs=1e-9)
        assert float(row.cell("weight").value) == pytest.approx(want["weight"], rel=1e-6, abs=1e-9)
        assert float(row.cell("incentive").value) == pytest.approx(want["incentive"], abs=1e-9)
        assert float(row.cell("emission_per_day").value) == pytest.approx(want["emission_per_day"], rel=1e-9)
    honest = {n["uid"]: n for n in results["neurons"] if n["kind"] == "honest"}
    best = max(honest.values(), key=lambda n: n["training_steps"])
    assert expected[0]["uid"] == best["uid"]  # the best-trained honest miner leads, as in the demo
    screenshot(site.as_uri(), tmp_path / "leaderboard.png", 1280, 1430)
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(tmp_path / "leaderboard.png", os.environ[SCREENSHOT_ENV])


def test_chart_marks_each_new_leader_and_the_validators_agree(site, results):
    html = dump_dom(site.as_uri())
    chart = re.search(r'<svg class="chart" role="img" aria-labelledby="([^"]+)".*?</svg>', html, re.S)
    assert chart, "no accessible chart on the page"
    title_id, desc_id = chart.group(1).split()
    assert f'id="{title_id}"' in chart.group(0) and f'id="{desc_id}"' in chart.group(0)
    leaders = re.findall(r">uid (\d+)</text>", chart.group(0))
    top = expected_standings(results)[0]["uid"]
    assert leaders and int(leaders[-1]) == top and len(set(leaders)) == len(leaders) >= 2
    validators = [n for n in results["neurons"] if n["role"] == "validator"]
    for v in validators:
        row = {n["uid"]: n["weights_from"][str(v["uid"])] for n in results["neurons"] if n["role"] == "miner"}
        favourite = max(row, key=lambda uid: (row[uid], -uid))
        assert re.search(rf'data-validator="{v["uid"]}" data-top="{favourite}"', html)
    assert f"all {len(validators)} validators put uid {top} first" in html
    target = float(re.search(r"Loss below (\d+\.\d+)", html).group(1))
    leader_loss = expected_standings(results)[0]["loss"]
    assert leader_loss * (1 - 0.02) <= target < leader_loss


def test_delegators_page_shows_takes_stakes_and_equal_returns(site, results):
    html = dump_dom((site.parent / "delegators.html").as_uri())
    [table] = tables(html, "delegates")
    rows = {int(r.attrs["data-uid"]): r for r in table["rows"]}
    validators = [n for n in results["neurons"] if n["role"] == "validator"]
    returns = []
    for v in validators:
        row = rows[v["uid"]]
        assert float(row.cell("take").value) == pytest.approx(v["take"])
        assert row.cell("take").text == f"{v['take'] * 100:.1f} %"
        assert float(row.cell("stake").value) == v["stake_rao"]
        # the validator's own stake grew from what it staked at the start by its share of dividends
        assert float(row.cell("own_stake").value) >= v["own_stake_rao"]
        returns.append(float(row.cell("return").value))
    assert returns[0] > 0 and max(returns) == pytest.approx(min(returns), rel=1e-3)


def test_miner_page_lists_the_commitment_and_every_round(site, results, sample):
    copier = next(n for n in results["neurons"] if n["kind"] == "copier")
    html = dump_dom((site.parent / "miners" / f"{copier['uid']}.html").as_uri())
    repo, revision = copier["ref"].split("@")
    model = sample.models["copier"]
    assert f'href="http://127.0.0.1:8765/{repo}/tree/{model.revision}"' in html and model.revision.startswith(revision)
    assert "clone filter" in html
    assert len(re.findall(r'<tr data-round="\d+">', html)) == sum(1 for e in results["emissions_by_epoch"])


def test_pages_read_on_a_phone_without_sideways_scrolling(site, tmp_path):
    """At 390 px wide the page itself never scrolls sideways: wide tables scroll inside their own box."""
    results_by_page = {}
    miner = sorted((site.parent / "miners").glob("*.html"))[0].relative_to(site.parent).as_posix()
    for page in ("index.html", "delegators.html", miner):
        probe = tmp_path / f"probe-{page.replace('/', '-')}"
        probe.write_text(
            '<!doctype html><html><body style="margin:0">'
            f'<iframe id="f" src="{(site.parent / page).as_uri()}" style="width:390px;height:844px;border:0"></iframe>'
            '<pre id="out">pending</pre><script>'
            "document.getElementById('f').onload = function () { var e = this.contentDocument.documentElement;"
            "document.getElementById('out').textContent = JSON.stringify({scroll: e.scrollWidth, client: e.clientWidth}); };"
            "</script></body></html>",
            encoding="utf-8",
        )
        html = dump_dom(probe.as_uri(), width=420, height=900, allow_file_access=True)
        found = re.search(r'<pre id="out">(.*?)</pre>', html, re.S).group(1)
        results_by_page[page] = json.loads(found.replace("&quot;", '"'))
    for page, sizes in results_by_page.items():
        assert sizes["client"] == 390, (page, sizes)
        assert sizes["scroll"] <= sizes["client"], f"{page} scrolls sideways on a phone: {sizes}"
    screenshot(site.as_uri(), tmp_path / "phone.png", 390, 1400)


def test_a_missing_browser_fails_and_says_how_to_install_it(monkeypatch):
    from tests.leaderboard.browser import chromium

    monkeypatch.setenv("FLOCK_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        chromium()
    monkeypatch.delenv("FLOCK_CHROMIUM")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="scripts/test.sh"):
        chromium()
