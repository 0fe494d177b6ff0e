"""The pure parts: the bar a newcomer must beat, replayed rounds, formatting for people, SVG charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from flock_subnet.leaderboard import charts, fmt
from flock_subnet.leaderboard.model import RoundPoint
from flock_subnet.leaderboard.rounds import leader_history, next_round, replay, to_beat
from flock_subnet.leaderboard.sources import RoundRecord
from flock_subnet.rules import scoring
from flock_subnet.rules.competitions import LOCAL, QWEN_05B

COMMITS = {1: 5, 2: 35, 3: 95, 4: 120}  # uid -> commit block
HASHES = {1: "a" * 64, 2: "b" * 64, 3: "c" * 64, 4: "c" * 64}  # uid 4 copies uid 3


def record(round_block: int, losses: dict[int, float | None]) -> RoundRecord:
    return RoundRecord("local", round_block, 7, None, {
        uid: ("evaluated" if loss is not None else "miner_fault", loss, "") for uid, loss in losses.items()
    })


def validator_scores(round_block: int, losses: dict[int, float | None], competition=LOCAL):
    entries = [scoring.Entry(uid, COMMITS[uid], loss, HASHES[uid]) for uid, loss in losses.items()]
    return scoring.score_competition(entries, scoring.ScoringParams.from_competition(competition), round_block)


@pytest.mark.parametrize("losses", [
    {1: 4.6, 2: 3.9, 3: 1.8, 4: 1.8},
    {1: 4.6, 2: 4.59, 3: None, 4: 4.0},
    {1: 2.0, 2: 2.0, 3: 1.999, 4: 1.5},
])
def test_replayed_rounds_agree_with_the_validators_scoring(losses):
    outcome = replay(record(200, losses), LOCAL, COMMITS, HASHES)
    scores = validator_scores(200, losses)
    assert outcome.winner == scores.round_winner
    for uid, score in scores.scores.items():
        assert outcome.win_rates.get(uid, 0.0) == pytest.approx(score.win_rate)
        assert (uid in outcome.competitive) == score.competitive


@pytest.mark.parametrize("block", [121, 150, 189, 199, 260])
def test_a_newcomer_just_under_the_bar_wins_and_just_over_it_does_not(block):
    losses = {1: 4.6, 2: 3.9, 3: 1.8, 4: 1.8}
    bar = to_beat(replay(record(130, losses), LOCAL, COMMITS, HASHES), LOCAL, block)
    assert bar is not None and bar.first_round == next_round(block, LOCAL)
    assert bar.first_round >= block + LOCAL.eval_delay_blocks and bar.first_round % LOCAL.round_length_blocks == 0
    for factor, wins in ((1 - 1e-9, True), (1 + 1e-9, False)):
        entries = [scoring.Entry(uid, COMMITS[uid], loss, HASHES[uid]) for uid, loss in losses.items()]
        entries.append(scoring.Entry(9, block, bar.threshold * factor, "d" * 64))
        result = scoring.score_competition(entries, scoring.ScoringParams.from_competition(LOCAL), bar.first_round)
        assert (result.round_winner == 9) is wins, (factor, bar)
    assert bar.leader_uid == 3 and bar.threshold < bar.leader_loss


def test_no_bar_before_anyone_scored():
    assert to_beat(None, LOCAL, 100) is None
    assert to_beat(replay(record(100, {1: None}), LOCAL, COMMITS, HASHES), LOCAL, 100) is None


def test_leader_history_marks_only_changes_of_leader():
    rounds = [
        replay(record(r, losses), LOCAL, COMMITS, HASHES)
        for r, losses in ((10, {1: 4.6}), (40, {1: 4.6, 2: 3.9}), (60, {1: 4.61, 2: 3.91}), (100, {1: 4.6, 2: 3.9, 3: 1.8}))
    ]
    points = leader_history(rounds)
    assert [(p.leader_uid, p.new_leader) for p in points] == [(1, True), (2, True), (2, False), (3, True)]
    assert points[-1].leader_loss == 1.8 and points[-1].best_loss == 1.8 and points[-1].entrants == 3


def test_next_round_respects_the_eval_delay():
    assert next_round(99, LOCAL) == 100
    assert next_round(100, LOCAL) == 110  # committed at a round's first block: too late for it
    assert next_round(0, QWEN_05B) == 360


@pytest.mark.parametrize("rao, text", [
    (0, "0 α"), (12_345_678, "0.0123 α"), (1_000_000_000, "1.00 α"), (123_400_000_000, "123.4 α"),
    (1_234_500_000_000, "1,234 α"), (None, "—"), (10, "<0.0001 α"),
])
def test_alpha_amounts_read_like_amounts(rao, text):
    assert fmt.alpha(rao) == text


def test_percentages_times_and_keys_read_like_words():
    assert fmt.percent(0.5) == "50.0 %" and fmt.percent(0) == "0 %" and fmt.percent(0.0004) == "0.040 %"
    assert fmt.percent(None) == "—" and fmt.percent(0.18, 0) == "18 %"
    assert fmt.blocks(1) == "1 block (12 s)" and fmt.blocks(7200) == "7,200 blocks (24 h)"
    assert fmt.block_age(100, 250) == "block 100, 150 blocks (30 min) ago"
    assert fmt.ago(240, 250) == "10 blocks (2 min) ago" and fmt.ago(250, 250) == "now"
    assert fmt.duration(3 * 86400 + 3600) == "3 d 1 h"
    assert fmt.block_wall_time(90, 100, 1_700_000_000) == fmt.wall_time(1_700_000_000 - 120)
    assert fmt.short_key("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty") == "5FHneW…94ty"
    assert fmt.loss(1.23456) == "1.2346" and fmt.loss(float("nan")) == "—"


def test_nice_ticks_are_round_and_cover_the_range():
    assert charts.nice_ticks(1.7, 4.9) == [2.0, 3.0, 4.0]
    ticks = charts.nice_ticks(0, 240, 6)
    assert ticks[0] == 0 and ticks[-1] == 200 and all(t % 50 == 0 for t in ticks)


@pytest.mark.parametrize("size", [charts.WIDE, charts.NARROW])
def test_the_leader_chart_is_valid_accessible_svg(size):
    points = [RoundPoint(10, 1, 4.6, 4.6, True, 1), RoundPoint(20, 1, 4.59, 3.0, False, 2),
              RoundPoint(30, 2, 1.8, 1.8, True, 3)]
    svg = charts.leader_chart("c", "local", points, size)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c-title c-desc"
    assert root.find(f"{ns}title").text == "Best loss over rounds in competition local"
    assert "uid 1 at round 10" in root.find(f"{ns}desc").text and "uid 2 at round 30" in root.find(f"{ns}desc").text
    assert root.get("viewBox") == f"0 0 {size[0]} {size[1]}"
    assert re.findall(r">uid (\d)</text>", svg) == ["1", "2"]
    assert "lowest loss of the round" in svg  # round 20's best differs from its leader's


def test_an_empty_chart_says_so():
    root = ET.fromstring(charts.leader_chart("e", "local", []))
    assert "no rounds yet" in "".join(root.itertext())
