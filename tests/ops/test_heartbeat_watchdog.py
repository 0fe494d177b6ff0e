"""Heartbeat files and the watchdog's decision rule, without pm2."""

from __future__ import annotations

import os

from flock_subnet.ops.heartbeat import ENV_VAR, Heartbeat, heartbeat_age_s, read_heartbeat
from flock_subnet.ops.pm2 import Pm2Process, _parse_process
from flock_subnet.ops.watchdog import decide, silence_s


def test_beat_writes_an_atomic_record(tmp_path):
    path = tmp_path / "hb" / "validator.heartbeat"
    heartbeat = Heartbeat(path)
    heartbeat.beat(status="evaluating", round=12)
    record = read_heartbeat(path)
    assert record["pid"] == os.getpid() and record["beats"] == 1
    assert record["status"] == "evaluating" and record["round"] == 12
    assert [p.name for p in path.parent.iterdir()] == ["validator.heartbeat"]  # no temp files left
    assert heartbeat_age_s(path, now=record["time"] + 5) == 5


def test_min_interval_skips_redundant_writes(tmp_path):
    path = tmp_path / "hb"
    heartbeat = Heartbeat(path, min_interval_s=3600)
    heartbeat.beat()
    heartbeat.beat()
    assert read_heartbeat(path)["beats"] == 1
    heartbeat.beat(status="important")  # a status change is always written
    assert read_heartbeat(path)["beats"] == 2


def test_without_a_path_nothing_happens(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    heartbeat = Heartbeat.from_env()
    assert not heartbeat.enabled
    heartbeat.beat()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "x.heartbeat"))
    Heartbeat.from_env().beat()
    assert read_heartbeat(tmp_path / "x.heartbeat") is not None


def test_an_unreadable_heartbeat_counts_by_its_file_age(tmp_path):
    proc = process(tmp_path, started_at=0.0)
    path = tmp_path / "n.heartbeat"
    path.write_text("{torn")
    os.utime(path, (1990.0, 1990.0))
    assert decide(proc, limit_s=60, now=2000.0).action == "ok"
    assert decide(proc, limit_s=5, now=2000.0).action == "restart"


def test_unreadable_heartbeats_read_as_none(tmp_path):
    assert read_heartbeat(tmp_path / "missing") is None
    (tmp_path / "garbage").write_text("{not json")
    assert read_heartbeat(tmp_path / "garbage") is None
    assert heartbeat_age_s(tmp_path / "garbage") is None


def process(tmp_path, status="online", started_at=1000.0, beat_at=None, with_env=True) -> Pm2Process:
    path = tmp_path / "n.heartbeat"
    if beat_at is not None:
        path.write_text(f'{{"pid": 1, "time": {beat_at}, "beats": 1}}')
    return Pm2Process("n", 0, 1, status, 0, started_at, {ENV_VAR: str(path)} if with_env else {})


def test_silence_counts_from_the_later_of_beat_and_start():
    assert silence_s(None, 100.0, 130.0) == 30.0
    assert silence_s(120.0, 100.0, 130.0) == 10.0
    assert silence_s(90.0, 100.0, 130.0) == 30.0  # a beat from before the restart does not count


def test_watchdog_decisions(tmp_path):
    assert decide(process(tmp_path, beat_at=1995.0), limit_s=10, now=2000.0).action == "ok"
    hung = decide(process(tmp_path, beat_at=1900.0), limit_s=10, now=2000.0)
    assert hung.action == "restart" and hung.silent_s == 100.0
    # beat before its last restart: a fresh process gets the whole limit to beat again
    assert decide(process(tmp_path, started_at=1995.0, beat_at=900.0), limit_s=10, now=2000.0).action == "ok"
    assert decide(process(tmp_path, started_at=1000.0, beat_at=900.0), limit_s=10, now=2000.0).action == "restart"
    # never beat at all: not instrumented, left alone
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert decide(process(fresh, started_at=1000.0), limit_s=10, now=2000.0).action == "skip"
    assert decide(process(tmp_path, status="stopped", beat_at=0.0), limit_s=10, now=2000.0).action == "skip"
    assert decide(process(tmp_path, with_env=False), limit_s=10, now=2000.0).action == "skip"


def test_pm2_jlist_entries_are_parsed():
    item = {
        "name": "flock-validator",
        "pm_id": 3,
        "pid": 4242,
        "pm2_env": {"status": "online", "restart_time": 2, "pm_uptime": 1_700_000_000_000,
                    "FLOCK_HEARTBEAT": "/x/hb", "env": {"PYTHONUNBUFFERED": "1"}},
    }
    parsed = _parse_process(item)
    assert parsed.online and parsed.pid == 4242 and parsed.restarts == 2
    assert parsed.started_at == 1_700_000_000.0
    assert parsed.env["FLOCK_HEARTBEAT"] == "/x/hb" and parsed.env["PYTHONUNBUFFERED"] == "1"
