"""Validator state on real SQLite files: caching, EMA resets, rounds, weights, faults, migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from flock_subnet.validator import state as state_mod
from flock_subnet.validator.state import (
    AdmissionRecord,
    EvalRecord,
    StateError,
    SubmissionState,
    ValidatorState,
    WeightSet,
    WeightSubmission,
)


@pytest.fixture
def vstate(tmp_path):
    with ValidatorState(tmp_path / "state" / "validator.db") as s:
        yield s


def test_fresh_file_is_wal_and_current_schema(vstate):
    assert vstate.schema_version == state_mod.SCHEMA_VERSION
    mode = vstate._db.query_one("PRAGMA journal_mode")[0]
    assert mode.lower() == "wal"


def test_eval_cache_round_trip_and_counter(vstate):
    record = EvalRecord("h1", "local", 100, 42, 1.25, samples=8, tokens=300, seconds=0.5, tokens_per_s=600.0,
                        per_task={"reverse": 1.0})
    vstate.put_eval(record)
    assert vstate.get_eval("h1", "local", 100) == record
    assert vstate.get_eval("h1", "local", 110) is None
    assert vstate.counter("evaluations") == 1
    vstate.put_eval(EvalRecord("h2", "local", 100, 42, None, fault="model crashed"))
    assert vstate.get_eval("h2", "local", 100).fault == "model crashed"
    assert vstate.eval_count() == 2


def test_last_loss_ignores_faults_and_later_rounds(vstate):
    vstate.put_eval(EvalRecord("h", "local", 10, 1, 2.0))
    vstate.put_eval(EvalRecord("h", "local", 20, 2, None, fault="boom"))
    vstate.put_eval(EvalRecord("h", "local", 30, 3, 1.0))
    assert vstate.last_loss("h", "local", before_round=30) == 2.0
    assert vstate.last_loss("h", "local", before_round=31) == 1.0
    assert vstate.last_loss("h", "local", before_round=10) is None


def test_admissions_keyed_by_hotkey_and_revision(vstate):
    rec = AdmissionRecord("hk", "a" * 40, "f1:local:x/y:...", True, [], "c" * 64, 1000, "/tmp/m")
    vstate.put_admission(rec)
    assert vstate.get_admission("hk", "a" * 40) == rec
    assert vstate.get_admission("hk", "a" * 40, reference="f1:local:x/y:...") == rec
    assert vstate.get_admission("hk", "a" * 40, reference="other text") is None
    assert vstate.get_admission("other", "a" * 40) is None
    vstate.put_admission(AdmissionRecord("hk2", "b" * 40, "r", False, ["bad file"], None, None, None))
    assert vstate.forget_admissions_except({("hk", "a" * 40)}) == 1
    assert [a.hotkey for a in vstate.admissions()] == ["hk"]


def test_ema_resets_when_a_uid_changes_hands(vstate):
    vstate.set_ema("local", {0: 0.5, 1: 0.25, 2: 0.25}, {0: "A", 1: "B", 2: "C"}, 100)
    assert vstate.ema("local") == {0: 0.5, 1: 0.25, 2: 0.25}
    changed = vstate.reset_changed_hotkeys({0: "A", 1: "B2"})  # uid 1 re-registered, uid 2 gone
    assert changed == [1, 2]
    assert vstate.ema("local") == {0: 0.5}


def test_set_ema_replaces_the_competition_table(vstate):
    vstate.set_ema("local", {0: 1.0, 3: 0.5}, {0: "A", 3: "D"}, 10)
    vstate.set_ema("other", {5: 1.0}, {5: "E"}, 10)
    vstate.set_ema("local", {0: 0.5}, {0: "A"}, 20)
    assert vstate.ema("local") == {0: 0.5}
    assert vstate.ema("other") == {5: 1.0}


def test_round_progress(vstate):
    assert vstate.round_progress("local", 100) is None
    progress = vstate.start_round("local", 100, 7)
    assert progress.status == "in_progress" and progress.seed == 7
    assert vstate.start_round("local", 100, 7).started_at == progress.started_at  # idempotent
    vstate.record_uid("local", 100, 3, "hk", "evaluated", 1.5, "")
    vstate.record_uid("local", 100, 4, "hk4", "miner_fault", None, "bad hash")
    assert vstate.round_uids("local", 100) == {3: ("evaluated", 1.5, ""), 4: ("miner_fault", None, "bad hash")}
    assert vstate.latest_round("local", status="done") is None
    vstate.finish_round("local", 100)
    assert vstate.round_progress("local", 100).status == "done"
    assert vstate.latest_round("local", status="done").round_block == 100


def test_weights_pending_and_history(vstate):
    assert vstate.last_weights() is None and vstate.pending_weights() is None
    vstate.set_pending_weights(100, {0: 0.25, 1: 0.75})
    assert vstate.pending_weights() == (100, {0: 0.25, 1: 0.75})
    vstate.record_weights(WeightSet(105, 100, [0, 1], [0.25, 0.75], True, "ok", 1000))
    vstate.record_weights(WeightSet(106, 100, [0, 1], [0.25, 0.75], False, "SettingWeightsTooFast", 1000))
    last = vstate.last_weights()
    assert last.block == 105 and last.weights == [0.25, 0.75] and last.version_key == 1000
    assert [w.ok for w in vstate.weight_sets()] == [False, True]
    assert vstate.counters() == {"weight_sets_failed": 1, "weight_sets_ok": 1}


def test_fault_log(vstate):
    vstate.log_fault("miner", "malformed commitment", uid=3, hotkey="hk", round_block=10, competition_id="local")
    vstate.log_fault("validator", "hub 503", uid=4, round_block=10)
    assert [f.kind for f in vstate.faults()] == ["validator", "miner"]
    assert vstate.faults(kind="miner")[0].reason == "malformed commitment"
    assert vstate.faults(uid=4)[0].kind == "validator"
    assert vstate.counter("miner_faults") == 1 and vstate.counter("validator_faults") == 1
    with pytest.raises(ValueError):
        vstate.log_fault("cosmic", "ray")


def test_transaction_is_atomic(vstate):
    with pytest.raises(RuntimeError):
        with vstate.transaction():
            vstate.put_eval(EvalRecord("h", "local", 1, 1, 1.0))
            vstate.set_ema("local", {0: 1.0}, {0: "A"}, 1)
            raise RuntimeError("crash in the middle")
    assert vstate.get_eval("h", "local", 1) is None
    assert vstate.ema("local") == {}
    assert vstate.counter("evaluations") == 0


def test_summary_is_json_ready(vstate):
    import json

    vstate.start_round("local", 100, 7)
    vstate.set_ema("local", {0: 1.0}, {0: "A"}, 100)
    vstate.record_weights(WeightSet(105, 100, [0, 1], [1.0, 0.0], True, "ok", 1000))
    summary = json.loads(json.dumps(vstate.summary()))
    assert summary["latest_round"]["round_block"] == 100
    assert summary["last_weights"]["weights"] == {"0": 1.0}
    assert summary["ema"] == {"local": {"0": 1.0}}


def test_migration_from_schema_1_keeps_data(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    state_mod.MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO eval_results (content_hash, competition_id, round_block, seed, loss, fault, samples, tokens, "
        "seconds, created_at) VALUES ('h', 'local', 10, 5, 1.5, NULL, 8, 100, 0.1, 0)"
    )
    db.execute("INSERT INTO scores VALUES ('local', 2, 'HK', 0.75, 10)")
    db.execute("INSERT INTO weight_sets (block, round_block, uids, weights, ok, message, created_at) "
               "VALUES (12, 10, '[2]', '[1.0]', 1, 'ok', 0)")
    db.close()

    with ValidatorState(path) as upgraded:
        assert upgraded.schema_version == state_mod.SCHEMA_VERSION >= 3
        record = upgraded.get_eval("h", "local", 10)
        assert record.loss == 1.5 and record.per_task == {} and record.tokens_per_s == 0.0
        assert upgraded.ema("local") == {2: 0.75}
        assert upgraded.last_weights().version_key is None
        upgraded.increment("evaluations")  # tables added by version 2 work
        upgraded.set_pending_weights(10, {2: 1.0})
        assert upgraded.counter("evaluations") == 1


def test_migration_from_schema_2_keeps_pending_weights_and_adds_submissions(tmp_path):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path, isolation_level=None)
    state_mod.MIGRATIONS[0](db)
    state_mod.MIGRATIONS[1](db)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO pending_weights (id, round_block, weights, created_at) VALUES (1, 10, '{\"2\": 1.0}', 0)")
    db.close()
    with ValidatorState(path) as upgraded:
        assert upgraded.schema_version == state_mod.SCHEMA_VERSION >= 3
        assert upgraded.pending_weights() == (10, {2: 1.0})
        assert upgraded.pending_hotkeys() == {}  # not recorded before version 3: nothing is zeroed
        assert upgraded.weight_submissions() == []
        upgraded.record_submission(WeightSubmission(10, 12, SubmissionState.SET, "", [2], [1.0], 1000))
        assert upgraded.weight_submissions()[0].state is SubmissionState.SET


def test_weight_submissions_newest_first_with_state_changes(vstate):
    import json

    vstate.set_pending_weights(100, {0: 1.0}, {0: "HK0"})
    assert vstate.pending_hotkeys() == {0: "HK0"}
    vstate.record_submission(WeightSubmission(90, 95, SubmissionState.SET, "", [0], [1.0], 1000))
    first = vstate.record_submission(
        WeightSubmission(100, 105, SubmissionState.COMMITTED, "hidden", [0, 1], [0.2, 0.8], 1000, reveal_by=130)
    )
    vstate.record_submission(WeightSubmission(110, 111, SubmissionState.REFUSED, "version 1001 required", [0], [1.0]))
    assert [s.state for s in vstate.weight_submissions()] == [
        SubmissionState.REFUSED, SubmissionState.COMMITTED, SubmissionState.SET,
    ]
    (committed,) = vstate.weight_submissions(SubmissionState.COMMITTED)
    assert committed.id == first and committed.reveal_by == 130 and committed.weights == [0.2, 0.8]
    vstate.update_submission(first, SubmissionState.DROPPED, "not revealed by block 130")
    assert vstate.weight_submissions(SubmissionState.COMMITTED) == []
    assert vstate.counter("weights_dropped") == 1 and vstate.counter("weights_committed") == 1
    listed = json.loads(json.dumps(vstate.summary()))["weight_submissions"]
    assert [(s["round_block"], s["block"], s["state"]) for s in listed] == [
        (110, 111, "refused"), (100, 105, "dropped"), (90, 95, "set"),
    ]
    assert listed[0]["reason"] == "version 1001 required" and listed[1]["reason"] == "not revealed by block 130"


def test_newer_schema_is_refused_with_advice(tmp_path):
    path = tmp_path / "future.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StateError, match="upgrade flock-subnet"):
        ValidatorState(path)


def test_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="move the file away"):
        ValidatorState(path)


def test_kill_during_a_write_leaves_the_last_commit(tmp_path):
    path = tmp_path / "killed.db"
    with ValidatorState(path) as s:
        s.put_eval(EvalRecord("kept", "local", 1, 1, 1.0))
    script = textwrap.dedent(
        f"""
        import os
        from flock_subnet.validator.state import ValidatorState, EvalRecord
        s = ValidatorState({str(path)!r})
        with s.transaction():
            s.put_eval(EvalRecord("lost", "local", 1, 1, 2.0))
            s.set_ema("local", {{0: 1.0}}, {{0: "A"}}, 1)
            os.kill(os.getpid(), 9)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9
    with ValidatorState(path) as s:
        assert s.get_eval("kept", "local", 1) is not None
        assert s.get_eval("lost", "local", 1) is None
        assert s.ema("local") == {}
        assert s.counter("evaluations") == 1
