"""When training stops: the pure decision, the signal flag, and an interrupted run that resumes."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from flock_subnet.miner.training import TrainConfig, TrainingInterrupted, train
from flock_subnet.miner.training.interrupt import stop_on_signals
from flock_subnet.miner.training.stopping import StopReason, stop_reason
from tests.miner.training.conftest import FAST


def _reason(step=0, elapsed_s=0.0, max_steps=None, max_seconds=None, data_left=True, stop_requested=False):
    return stop_reason(
        step=step, elapsed_s=elapsed_s, max_steps=max_steps, max_seconds=max_seconds, data_left=data_left,
        stop_requested=stop_requested,
    )


def test_each_budget_stops_when_reached_and_not_before():
    assert _reason(step=9, max_steps=10) is None
    assert _reason(step=10, max_steps=10) is StopReason.STEPS
    assert _reason(elapsed_s=59.9, max_seconds=60) is None
    assert _reason(elapsed_s=60.0, max_seconds=60) is StopReason.SECONDS
    assert _reason(data_left=False) is StopReason.EPOCHS
    assert _reason(step=10**6, elapsed_s=1e9) is None  # no step or time budget: only the data ends the run


def test_a_stop_request_comes_first_then_steps_seconds_epochs():
    everything = dict(step=10, max_steps=10, elapsed_s=60.0, max_seconds=60, data_left=False)
    assert _reason(**everything, stop_requested=True) is StopReason.INTERRUPTED
    assert _reason(**everything) is StopReason.STEPS
    assert _reason(**{**everything, "max_steps": None}) is StopReason.SECONDS
    assert _reason(**{**everything, "max_steps": None, "max_seconds": None}) is StopReason.EPOCHS


def test_stop_reasons_are_what_the_summary_reports():
    assert [r.value for r in StopReason] == ["interrupted", "steps", "seconds", "epochs"]


def test_signals_set_the_flag_inside_and_fall_back_outside():
    before = signal.getsignal(signal.SIGTERM)
    flag = threading.Event()
    with stop_on_signals(flag):
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.wait(5)
        with pytest.raises(KeyboardInterrupt):  # a second signal does not wait for the step to end
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_no_handler_is_installed():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def worker() -> None:
        with stop_on_signals(threading.Event()):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]


def test_sigterm_finishes_the_step_saves_and_resume_matches_an_uninterrupted_run(tiny_model_dir, tmp_path):
    settings = dict(init_model_dir=tiny_model_dir, max_steps=6, save_every=0, **FAST)

    def terminate_after_step_3(record: dict) -> None:
        if record["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    out = tmp_path / "stopped"
    with pytest.raises(TrainingInterrupted) as stopped:
        train(TrainConfig(output_dir=out, **settings), on_step=terminate_after_step_3)
    assert stopped.value.step == 3
    assert isinstance(stopped.value, KeyboardInterrupt)  # the command line exits with 130
    assert (out / "checkpoints" / "LATEST").read_text().strip() == "step-00000003"
    assert not (out / "model").exists()

    losses: list[float] = []
    resumed = train(TrainConfig(output_dir=out, resume=True, **settings), on_step=lambda r: losses.append(r["train/loss"]))
    assert resumed.resumed_from_step == 3 and resumed.steps == 6 and resumed.stopped_by == "steps"

    straight: list[float] = []
    train(TrainConfig(output_dir=tmp_path / "straight", **settings), on_step=lambda r: straight.append(r["train/loss"]))
    assert losses == pytest.approx(straight[3:], rel=1e-5)
