"""The miner daemon: train -> self-evaluate -> submit when it beats the chain's best -> repeat.

Training lives in `miner/training/`, self-evaluation in `miner/selfeval.py`, other miners' models
and the winning rule against them in `miner/chain_models.py`; publishing in `miner/submission.py`
and the status read in `miner/status.py` (both re-exported here, so `flock_subnet.miner.daemon`
stays the one import for "the miner").
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet.chain.base import Chain, Wallet
from flock_subnet.config import resolve_cache_dir
from flock_subnet.errors import FlockError
from flock_subnet.hub.base import HubError, ModelHub
from flock_subnet.miner.chain_models import (
    ChainModel,
    beats_incumbent,
    best_chain_model,
    committed_models,
    fetch_chain_model,
    incumbent_epsilon,
)
from flock_subnet.miner.status import MinerStatus, ValidatorView, miner_status
from flock_subnet.miner.training.distributed import broadcast, ranks_from_env
from flock_subnet.miner.submission import (
    DEFAULT_BLOCK_TIME_S,
    DEFAULT_MAX_WAIT_S,
    SubmitError,
    SubmitResult,
    _competition,
    _hotkey,
    submit_model,
    wait_for_block,
)
from flock_subnet.ops.heartbeat import Heartbeat
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import Competition

__all__ = [
    "Miner",
    "MinerRoundReport",
    "MinerStatus",
    "SubmitError",
    "SubmitResult",
    "ValidatorView",
    "miner_status",
    "submit_model",
    "wait_for_block",
]


@dataclass
class MinerRoundReport:
    """One pass of the daemon: what was trained, how it scored against the chain's best, what happened."""

    round: int
    seed: int
    model_dir: str | None = None
    train: dict[str, Any] | None = None
    loss: float | None = None
    best_loss: float | None = None
    best_hotkey: str | None = None
    epsilon: float = 0.0
    submitted: bool = False
    decision: str = ""
    submission: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _StepOffset:
    """A W&B run seen through a step offset, so each round's training logs after the previous round."""

    def __init__(self, run: Any, offset: int) -> None:
        self.run, self.offset = run, offset

    def log(self, data: dict[str, Any], step: int | None = None) -> None:
        self.run.log(data, step=None if step is None else self.offset + step)

    def summary(self, data: dict[str, Any]) -> None:
        self.run.summary(data)

    def finish(self) -> None:
        """The daemon finishes the run itself."""


class Miner:
    """The miner daemon: train -> self-evaluate -> submit only when it beats the chain's best -> repeat.

    Each round continues training the newest admissible model (or the chain's best, with
    `init_from_chain`) in `workdir/rounds/round-NNNN/` (resumed after a crash), evaluates the new
    model and the best committed models of the competition on the same fresh seed with the
    validators' evaluator, and submits when the new model beats the best one by the validators'
    own rule (`scoring.later_commit_wins`: `loss < best_loss * (1 - epsilon)`, epsilon being the
    advantage validators give the earlier commit at its age). Progress and results go to
    the log and to W&B (train loss, eval losses, submissions).
    """

    def __init__(
        self,
        chain: Chain,
        hub: ModelHub,
        wallet: Wallet,
        netuid: int,
        competition: Competition | str,
        workdir: str | Path,
        repo_id: str,
        train_config: Any = None,
        *,
        wandb_settings: Any = None,
        sandbox: bool = True,
        init_from_chain: bool = False,
        compare_top: int = 2,
        cache_dir: str | Path | None = None,
        rest_s: float = 0.0,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        block_time_s: float = DEFAULT_BLOCK_TIME_S,
    ) -> None:
        from flock_subnet.miner.training import TrainConfig

        self.chain, self.hub, self.wallet, self.netuid = chain, hub, wallet, netuid
        self.competition = _competition(competition)
        self.workdir = Path(workdir)
        # a file the pm2 watchdog checks (`FLOCK_HEARTBEAT`); beats on every training step
        self._heartbeat = Heartbeat.from_env()
        self.repo_id = repo_id
        protocol.validate_repo_id(repo_id)
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.train_config = train_config or TrainConfig(
            output_dir=self.workdir, competition=self.competition.id, max_seconds=600, save_every=50
        )
        self.wandb_settings = wandb_settings
        self.sandbox = sandbox
        self.init_from_chain = init_from_chain
        self.compare_top = max(1, compare_top)
        self.rest_s = rest_s
        self.max_wait_s = max_wait_s
        self.block_time_s = block_time_s
        self.hotkey = _hotkey(wallet)
        self._run: Any = None
        self._wandb_step = 0  # W&B steps must grow across rounds; each round's training starts at step 1
        self.state_file = self.workdir / "miner_state.json"
        self.workdir.mkdir(parents=True, exist_ok=True)
        # under torchrun every rank trains; rank 0 alone evaluates, submits and keeps the state
        self.ranks = ranks_from_env()

    # -- persistent state ------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any]:
        if self.state_file.is_file():
            return json.loads(self.state_file.read_text())
        return {"round": 0, "last_model": None, "submissions": []}

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.state_file)

    def _wandb(self) -> Any:
        from flock_subnet.telemetry import WandbRun, start_wandb_run

        if self._run is None:
            if self.wandb_settings is None:
                self._run = WandbRun(None)
            else:
                self._run = start_wandb_run(
                    self.wandb_settings, name=f"miner-{self.hotkey[:8]}-{self.netuid}", job_type="miner",
                    config={"netuid": self.netuid, "competition": self.competition.id, "repo_id": self.repo_id},
                )
        return self._run

    # -- one round ----------------------------------------------------------------------------
    def _init_model(self, state: dict[str, Any]) -> Path | None:
        if self.init_from_chain:
            best = best_chain_model(
                self.chain, self.hub, self.netuid, self.competition, self.workdir / "chain_models", self.cache_dir
            )
            if best is not None and best.folder is not None:
                logger.info("starting from the chain's best model {} (uid {})", best.reference.short, best.uid)
                return best.folder
        last = state.get("last_model")  # keep improving the newest admissible model
        if last and Path(last).is_dir():
            return Path(last)
        return self.train_config.init_model_dir

    def _train(self, round_no: int, init: Path | None) -> Any:
        from flock_subnet.miner.training import train
        from flock_subnet.telemetry import WandbRun

        if self.ranks.enabled and self.ranks.is_main:
            broadcast((round_no, init), self.ranks)  # the other ranks train this round with rank 0 (`follow`)
        out = self.workdir / "rounds" / f"round-{round_no:04d}"
        config = dataclasses.replace(
            self.train_config,
            output_dir=out,
            init_model_dir=init,
            data_seed=self.train_config.data_seed + round_no,
            resume=(out / "checkpoints").is_dir(),
            cache_dir=self.train_config.cache_dir or self.cache_dir,
            wandb=None,
        )
        wandb_run = _StepOffset(self._wandb(), self._wandb_step) if self.ranks.is_main else WandbRun(None)
        result = train(
            config, wandb_run=wandb_run, hub=self.hub,
            on_step=(lambda info: self._heartbeat.beat()) if self._heartbeat.enabled else None,
        )
        self._wandb_step += result.steps + 1
        return result

    def _best_on_chain(self, seed: int, worker: Any = None) -> ChainModel | None:
        from flock_subnet.miner.selfeval import evaluate_on_seed

        best = None
        for model in committed_models(self.chain, self.netuid, self.competition)[: self.compare_top]:
            try:
                fetch_chain_model(self.hub, model, self.workdir / "chain_models", self.competition, self.cache_dir)
            except HubError as exc:
                logger.warning("could not fetch {} ({}); comparing without it", model.reference.short, exc)
                continue
            if model.folder is None:
                logger.info("{} (uid {}) is not admissible: {}", model.reference.short, model.uid, "; ".join(model.reasons))
                continue
            try:
                model.loss = float(
                    evaluate_on_seed(model.folder, self.competition, seed, sandbox=self.sandbox, worker=worker).loss
                )
            except FlockError as exc:
                logger.warning("could not evaluate {} ({}); comparing without it", model.reference.short, exc)
                continue
            if best is None or model.loss < (best.loss or float("inf")):
                best = model
        return best

    def _eval_worker(self) -> Any:
        """One sandbox worker for this round's evaluations (the new model and the chain's best)."""
        if not self.sandbox:
            return None
        from flock_subnet.evaluation import WarmWorker

        return WarmWorker()

    def run_round(self) -> MinerRoundReport:
        """Train one model, compare it with the chain's best on a fresh seed, submit if it wins."""
        from flock_subnet.miner.selfeval import fresh_seed, self_evaluate

        state = self._load_state()
        round_no = int(state["round"]) + 1
        run = self._wandb()
        seed = fresh_seed()
        report = MinerRoundReport(round=round_no, seed=seed)
        result = self._train(round_no, self._init_model(state))
        report.model_dir, report.train = str(result.output_dir), result.to_dict()
        worker = self._eval_worker()
        try:
            own = self_evaluate(result.output_dir, self.competition, self.hotkey, seed, sandbox=self.sandbox,
                                cache_dir=self.cache_dir, worker=worker)
            if not own.ok:
                report.decision = "not admissible: " + "; ".join(own.reasons)
                return self._finish_round(state, report, run)
            report.loss = own.loss
            state["last_model"] = str(result.output_dir)
            best = self._best_on_chain(seed, worker)
        finally:
            if worker is not None:
                worker.close()
        if best is not None:
            block = self.chain.block()
            report.best_loss, report.best_hotkey = best.loss, best.hotkey
            report.epsilon = incumbent_epsilon(best, block, self.competition)
            if not beats_incumbent(own.loss, best, block, self.competition):
                report.decision = (
                    f"kept training: loss {own.loss:.4f} does not beat the chain's best {best.loss:.4f} "
                    f"(uid {best.uid}) by epsilon {report.epsilon:.2%}"
                )
                return self._finish_round(state, report, run)
        try:
            submitted = submit_model(
                self.chain, self.hub, self.wallet, self.netuid, result.output_dir, self.repo_id, self.competition,
                cache_dir=self.cache_dir, max_wait_s=self.max_wait_s, block_time_s=self.block_time_s,
            )
        except SubmitError as exc:
            report.decision = f"submission failed: {exc}"
            return self._finish_round(state, report, run)
        report.submitted, report.submission = True, submitted.to_dict()
        run.summary({"last_submission": report.submission})
        report.decision = "submitted" if best is None else f"submitted: beats uid {best.uid} ({best.loss:.4f})"
        state["submissions"] = (state.get("submissions") or []) + [{**submitted.to_dict(), "model_dir": report.model_dir}]
        return self._finish_round(state, report, run)

    def _finish_round(self, state: dict[str, Any], report: MinerRoundReport, run: Any) -> MinerRoundReport:
        state["round"] = report.round
        self._save_state(state)
        self._cleanup(state)
        log = {"miner/round": report.round, "miner/submitted": int(report.submitted)}
        if report.loss is not None:
            log["miner/eval_loss"] = report.loss
        if report.best_loss is not None:
            log["miner/best_chain_loss"] = report.best_loss
        run.log(log, step=self._wandb_step)
        self._wandb_step += 1
        logger.info("round {}: {}", report.round, report.decision)
        return report

    def _cleanup(self, state: dict[str, Any]) -> None:
        """Delete finished rounds' training states and every round folder no longer needed."""
        keep = {Path(p).parent for p in [state.get("last_model")] if p}
        submissions = state.get("submissions") or []
        if submissions and submissions[-1].get("model_dir"):
            keep.add(Path(submissions[-1]["model_dir"]).parent)
        for folder in sorted((self.workdir / "rounds").glob("round-*")):
            if not (folder / "train_summary.json").is_file():
                continue  # unfinished: its checkpoints resume it
            if folder in keep:
                shutil.rmtree(folder / "checkpoints", ignore_errors=True)
            else:
                shutil.rmtree(folder, ignore_errors=True)

    def run(
        self,
        stop_event: threading.Event | None = None,
        max_rounds: int | None = None,
        on_round: Callable[[MinerRoundReport], None] | None = None,
    ) -> list[MinerRoundReport]:
        """Rounds until `stop_event` is set or `max_rounds` are done; chain and hub outages are retried.

        Under torchrun the ranks other than 0 only train, each round when rank 0 starts it (`follow`).
        """
        if not self.ranks.is_main:
            self.follow()
            return []
        stop_event = stop_event or threading.Event()
        reports: list[MinerRoundReport] = []
        backoff = 5.0
        try:
            while not stop_event.is_set() and (max_rounds is None or len(reports) < max_rounds):
                self._heartbeat.beat(status="round", rounds=len(reports))
                try:
                    reports.append(self.run_round())
                    backoff = 5.0
                    if on_round is not None:
                        on_round(reports[-1])
                except FlockError as exc:
                    logger.warning("round failed ({}); retrying in {:.0f} s", exc, backoff)
                    stop_event.wait(backoff)
                    backoff = min(backoff * 2, 600.0)
                    continue
                if self.rest_s:
                    stop_event.wait(self.rest_s)
            if self.ranks.enabled:
                broadcast(None, self.ranks)  # no more rounds: the other ranks leave `follow`
        finally:
            self.close()
        return reports

    def follow(self) -> None:
        """A rank other than 0: train every round rank 0 announces, until it announces the end."""
        while (task := broadcast(None, self.ranks)) is not None:
            round_no, init = task
            self._train(round_no, init)

    def close(self) -> None:
        """Finish the W&B run (a later round starts a new one)."""
        if self._run is not None:
            self._run.finish()
            self._run = None
