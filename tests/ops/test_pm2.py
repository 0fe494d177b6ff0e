"""Real pm2 runs a neuron from an ecosystem file: restarts it after a crash, the watchdog restarts
it when it hangs, and it stops on request."""

from __future__ import annotations

import json
import subprocess
import sys

from flock_subnet.ops.heartbeat import read_heartbeat
from tests.ops.helpers import ROOT, wait_for, write_test_ecosystem

NAME = "flock-test-neuron"
LIMIT_S = 3.0  # seconds of silence before the watchdog restarts (generous: CI machines are busy)


def run_watchdog(pm2_env, pm2_binary) -> list[dict]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "watchdog.py"), "--once", "--json",
         "--limit", str(LIMIT_S), "--only", NAME, "--pm2", pm2_binary],
        env=pm2_env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_crash_restart_hang_restart_stop(tmp_path, pm2, pm2_env, pm2_binary):
    control, starts = tmp_path / "control", tmp_path / "starts"
    control.write_text("run")
    ecosystem = write_test_ecosystem(tmp_path / "ecosystem.config.js", NAME, control, starts)
    heartbeat_file = f"{pm2_env['FLOCK_HEARTBEAT_DIR']}/{NAME}.heartbeat"

    def beating_pid():
        process = pm2.get(NAME)
        record = read_heartbeat(heartbeat_file)
        if process and process.online and record and record["pid"] == process.pid and record["beats"] > 2:
            return process
        return None

    try:
        pm2.start(ecosystem)
        first = wait_for(beating_pid, what="the neuron to start beating")
        assert first.env["FLOCK_HEARTBEAT"] == heartbeat_file
        assert first.restarts == 0

        # a crash: pm2 itself restarts the process (with its backoff)
        control.write_text("crash")
        second = wait_for(lambda: (p := beating_pid()) and p.pid != first.pid and p, what="a restart after the crash")
        assert second.restarts == 1

        # a hang: alive for pm2, silent for the watchdog, which restarts it
        control.write_text("hang")
        wait_for(lambda: control.read_text() == "run", what="the neuron to hang")
        restarts: list[dict] = []

        def watchdog_restarted() -> list[dict]:
            restarts.extend(d for d in run_watchdog(pm2_env, pm2_binary) if d["action"] == "restart")
            return restarts

        wait_for(watchdog_restarted, what="the watchdog to restart the hung neuron")
        assert len(restarts) == 1 and restarts[0]["silent_s"] > LIMIT_S
        third = wait_for(lambda: (p := beating_pid()) and p.pid != second.pid and p, what="a restart after the hang")
        assert third.restarts == 2
        assert run_watchdog(pm2_env, pm2_binary)[0]["action"] == "ok"

        pm2.stop(NAME)
        stopped = wait_for(lambda: (p := pm2.get(NAME)) and p.status == "stopped" and p, what="the neuron to stop")
        assert not stopped.online
        assert run_watchdog(pm2_env, pm2_binary)[0]["action"] == "skip"
        assert len(starts.read_text().split()) == 3
        logs = f"{pm2_env['FLOCK_LOG_DIR']}/{NAME}.out.log"
        assert "crashing on request" in open(logs).read()
    finally:
        pm2.run("delete", NAME)
