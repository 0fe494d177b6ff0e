"""The validator service: block-based rounds that turn miners' models into weights on chain.

One round (`Validator.run_round`), the same on every validator:

1. For each competition the round starts at `r`, the genesis-aligned multiple of its
   `round_length_blocks` at or below the current block; seed = `data.round_seed(hash of r)`.
2. Read the metagraph and commitments; plan each uid (`validation.plan`): eligible if committed
   at or before `r - eval_delay_blocks`, pending if later, malformed (miner fault), or nothing.
3. Admit new or changed references (`validation.models`, downloads prefetched in a thread pool
   while the main thread evaluates), then evaluate every eligible model, new ones first, in the
   sandboxed worker. Results are cached per (content hash, round): a restart never re-evaluates.
4. Scores -> clone filter -> epsilon win rates -> round weights -> EMA -> reward shares ->
   normalised weights (`scoring`), persisted in one transaction with the round's outcome.
5. Set weights when the rate limit allows (`validation.weights`), log to W&B, and delete model
   folders no commitment refers to.

Miner faults score zero; validator faults are retried with backoff and hold the miner's score
(`validation.faults`). `run()` repeats rounds as blocks pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet import SPEC_VERSION
from flock_subnet.chain.base import Chain, Metagraph, Wallet
from flock_subnet.config import WandbSettings
from flock_subnet.hub.base import ModelHub
from flock_subnet.rules import scoring
from flock_subnet.rules.competitions import Competition, get_competition
from flock_subnet.telemetry import WandbRun, start_wandb_run
from flock_subnet.validator import plan as planning
from flock_subnet.validator.evaluations import Outcome, RoundEvaluator
from flock_subnet.validator.faults import Backoff, ValidatorFault, is_validator_fault, retry
from flock_subnet.validator.models import ModelStore
from flock_subnet.validator.report import HELD, MINER_FAULT, CompetitionRound, RoundReport, UidReport
from flock_subnet.validator.state import ValidatorState
from flock_subnet.validator.weights import WeightOutcome, WeightSetter

__all__ = ["RoundReport", "Validator", "ValidatorConfig"]


@dataclass(frozen=True)
class ValidatorConfig:
    """Knobs of the loop (the defaults suit a production subnet)."""

    eval_timeout_s: float = 900.0
    memory_limit_mb: int | None = None
    eval_samples: int | None = None  # hidden samples per model; None: the competition's (keep it so in production)
    poll_interval_s: float = 12.0  # one block
    chain_backoff: Backoff = Backoff(attempts=4, base_s=2.0, max_s=60.0)
    hub_backoff: Backoff = Backoff(attempts=4, base_s=5.0, max_s=120.0)
    eval_backoff: Backoff = Backoff(attempts=2, base_s=5.0, max_s=60.0)
    download_workers: int = 2
    set_weights: bool = True
    keep_models: bool = False  # skip disk hygiene (debugging)
    cache_dir: Path | None = None  # base models (reference config/tokenizer); default <workdir>/base


class Validator:
    """One validator hotkey scoring some competitions on one subnet."""

    def __init__(
        self,
        chain: Chain,
        hub: ModelHub,
        wallet: Wallet,
        netuid: int,
        competitions: Sequence[Competition | str],
        workdir: str | Path,
        wandb_settings: WandbSettings | None = None,
        config: ValidatorConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not competitions:
            raise ValueError("a validator needs at least one competition to score")
        self.chain = chain
        self.hub = hub
        self.wallet = wallet
        self.netuid = netuid
        self.competitions: dict[str, Competition] = {}
        for c in competitions:
            competition = get_competition(c) if isinstance(c, str) else c
            self.competitions[competition.id] = competition
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config or ValidatorConfig()
        self._sleep = sleep
        self.state = ValidatorState(self.workdir / "state.db")
        self._reference_files: dict[str, Mapping[str, bytes]] = {}
        self._reference_lock = threading.Lock()
        self.models = ModelStore(
            hub, self.state, self.workdir / "models", self.config.hub_backoff,
            reference_files=self._reference_files_for, workers=self.config.download_workers, sleep=sleep,
        )
        self.evaluator = RoundEvaluator(
            self.state, self.models, self.competitions, self.config.eval_timeout_s, self.config.memory_limit_mb,
            self.config.eval_backoff, sleep=sleep, samples=self.config.eval_samples,
        )
        self.weights = WeightSetter(chain, wallet, netuid, self.state, self.config.chain_backoff, SPEC_VERSION, sleep=sleep)
        self._wandb_settings = wandb_settings
        self._wandb: WandbRun | None = None

    @property
    def hotkey(self) -> str:
        return self.wallet.hotkey.ss58_address

    # --- helpers ------------------------------------------------------------------------------

    def _chain(self, call: Callable[[], Any], what: str) -> Any:
        try:
            return retry(call, what, self.config.chain_backoff, sleep=self._sleep)
        except Exception as exc:
            if is_validator_fault(exc):
                raise ValidatorFault(f"{what} kept failing ({exc}); the round will be retried") from exc
            raise

    def _reference_files_for(self, competition: Competition) -> Mapping[str, bytes]:
        with self._reference_lock:
            if competition.id not in self._reference_files:
                from flock_subnet.evaluation.admission import load_reference_files

                cache_dir = self.config.cache_dir or self.workdir / "base"
                self._reference_files[competition.id] = load_reference_files(competition, cache_dir, self.hub)
            return self._reference_files[competition.id]

    def _wandb_run(self, metagraph: Metagraph) -> WandbRun:
        if self._wandb is None:
            if self._wandb_settings is None:
                self._wandb = WandbRun(None)
            else:
                uid = metagraph.uid_of(self.hotkey)
                self._wandb = start_wandb_run(
                    self._wandb_settings,
                    name=f"validator-{uid if uid is not None else 'unregistered'}-netuid{self.netuid}",
                    config={
                        "hotkey": self.hotkey, "uid": uid, "netuid": self.netuid, "spec_version": SPEC_VERSION,
                        "competitions": sorted(self.competitions), "type": "validator",
                    },
                    job_type="validator",
                )
        return self._wandb

    def due_rounds(self, block: int) -> dict[str, int]:
        """competition id -> start block of its current round, for rounds not finished yet."""
        due = {}
        for competition in self.competitions.values():
            r = planning.round_start(block, competition.round_length_blocks)
            progress_ = self.state.round_progress(competition.id, r)
            if progress_ is None or progress_.status != "done":
                due[competition.id] = r
        return due

    # --- the round ----------------------------------------------------------------------------

    def run_round(self) -> RoundReport:
        """Run every competition whose current round is not finished yet, then try to set weights."""
        started = time.monotonic()
        block = self._chain(self.chain.block, "reading the block")
        report = RoundReport(block=block)
        due = self.due_rounds(block)
        if not due:
            report.weights_message = self._set_pending_weights(report, None)
            report.seconds = time.monotonic() - started
            return report
        from flock_subnet.rules.data import round_seed

        metagraph = self._chain(lambda: self.chain.metagraph(self.netuid), "reading the metagraph")
        commitments = self._chain(lambda: self.chain.commitments(self.netuid), "reading commitments")
        rounds: dict[str, tuple[int, int]] = {}
        for competition_id, r in due.items():
            block_hash = self._chain(lambda r=r: self.chain.block_hash(r), f"reading the hash of block {r}")
            seed = round_seed(block_hash)
            rounds[competition_id] = (r, seed)
            self.state.start_round(competition_id, r, seed)
            report.rounds.append(CompetitionRound(competition_id, r, seed))
            logger.info("round {} of {} (seed {}) at block {}", r, competition_id, seed, block)
        hotkeys = {n.uid: n.hotkey for n in metagraph.neurons}
        reset = self.state.reset_changed_hotkeys(hotkeys)
        if reset:
            logger.info("uids {} changed hands; their scores start from zero", reset)
        all_rounds = {c: planning.round_start(block, comp.round_length_blocks) for c, comp in self.competitions.items()}
        plans = planning.plan_submissions(metagraph, commitments, self.competitions, all_rounds)
        eligible = [p for p in plans if p.status == planning.ELIGIBLE and p.competition_id in rounds]
        for p in plans:
            if p.status == planning.PENDING and p.competition_id in rounds:
                logger.info("uid {} {} waits: {}", p.uid, p.reference.short, p.detail)  # type: ignore[union-attr]
        downloads_before = self.models.downloads
        outcomes, stats = self.evaluator.run(eligible, rounds)
        report.evaluations_run, report.evaluations_cached = stats.evaluated, stats.cached
        report.timings.update(stats.timings())

        new_ema: dict[str, dict[int, float]] = {}
        scored: dict[str, scoring.CompetitionScores] = {}
        stale: set[int] = set()
        for competition_id, (r, _seed) in rounds.items():
            competition = self.competitions[competition_id]
            entries, held = [], []
            for p in plans:
                if p.competition_id != competition_id:
                    continue
                if p.status == planning.PENDING:
                    held.append(p.uid)
                if p.status != planning.ELIGIBLE:
                    continue
                outcome = outcomes[p.uid]
                loss = outcome.loss
                if outcome.status == HELD:
                    loss = self.state.last_loss(outcome.content_hash, competition_id, r) if outcome.content_hash else None
                    if loss is None:
                        held.append(p.uid)
                        continue
                    stale.add(p.uid)
                entries.append(scoring.Entry(p.uid, p.commit_block, loss, outcome.content_hash))  # type: ignore[arg-type]
            params = scoring.ScoringParams.from_competition(competition)
            scored[competition_id] = scoring.score_competition(entries, params, r, self.state.ema(competition_id), held)
            new_ema[competition_id] = scored[competition_id].ema
            for cr in report.rounds:
                if cr.competition_id == competition_id:
                    cr.winner = scored[competition_id].round_winner

        emas = {c: new_ema[c] if c in new_ema else self.state.ema(c) for c in self.competitions}
        shares = {c: comp.reward_share for c, comp in self.competitions.items()}
        final = scoring.combine_competitions(emas, shares)
        report.weights = {uid: w for uid, w in zip(range(metagraph.n), scoring.weight_vector(final, metagraph.n))}
        self._fill_uids(report, plans, outcomes, scored, stale)
        with self.state.transaction():  # the round's outcome lands all at once, or not at all
            self._log_faults(plans, outcomes, rounds)
            for competition_id, (r, _seed) in rounds.items():
                self.state.set_ema(competition_id, new_ema[competition_id], hotkeys, r)
                for u in report.uids.values():
                    if u.competition_id == competition_id or u.competition_id is None:
                        self.state.record_uid(competition_id, r, u.uid, u.hotkey, u.status, u.loss, u.detail)
                self.state.finish_round(competition_id, r)
            if any(w > 0 for w in report.weights.values()):
                self.state.set_pending_weights(max(r for r, _ in rounds.values()), report.weights)
        report.downloads = self.models.downloads - downloads_before
        report.weights_message = self._set_pending_weights(report, metagraph)
        if not self.config.keep_models:
            keep = {p.key for p in plans if p.key is not None}
            self.models.cleanup(keep)  # type: ignore[arg-type]
            self.state.forget_admissions_except(keep)  # type: ignore[arg-type]
        report.seconds = time.monotonic() - started
        report.timings["round_s"] = report.seconds
        report.log_to(self._wandb_run(metagraph))
        logger.info(
            "round done in {:.1f}s: {} evaluated, {} cached; {}", report.seconds, report.evaluations_run,
            report.evaluations_cached, "weights set" if report.weights_set else report.weights_message,
        )
        return report

    def _log_faults(
        self, plans: list[planning.Submission], outcomes: Mapping[int, Outcome], rounds: Mapping[str, tuple[int, int]]
    ) -> None:
        first_round = min(r for r, _ in rounds.values())
        for sub in plans:
            if sub.status == planning.MALFORMED:
                self.state.log_fault("miner", f"malformed commitment: {sub.detail}", sub.uid, sub.hotkey, first_round)
                logger.warning("uid {}: malformed commitment ({}); scores zero", sub.uid, sub.detail)
                continue
            outcome = outcomes.get(sub.uid)
            if outcome is None or outcome.status not in (MINER_FAULT, HELD):
                continue
            kind = "miner" if outcome.status == MINER_FAULT else "validator"
            r = rounds[sub.competition_id][0]  # type: ignore[index]
            self.state.log_fault(kind, outcome.detail, sub.uid, sub.hotkey, r, sub.competition_id)
            log = logger.warning if kind == "miner" else logger.error
            log("uid {} {} fault: {}", sub.uid, kind, outcome.detail)

    def _fill_uids(
        self,
        report: RoundReport,
        plans: list[planning.Submission],
        outcomes: Mapping[int, Outcome],
        scored: Mapping[str, scoring.CompetitionScores],
        stale: set[int],
    ) -> None:
        for p in plans:
            u = UidReport(
                uid=p.uid, hotkey=p.hotkey, status=p.status, competition_id=p.competition_id,
                model=None if p.reference is None else p.reference.short, commit_block=p.commit_block,
                detail=p.detail, weight=report.weights.get(p.uid, 0.0),
            )
            outcome = outcomes.get(p.uid)
            if outcome is not None:
                u.status, u.loss, u.content_hash, u.detail = outcome.status, outcome.loss, outcome.content_hash, outcome.detail
            scores = scored.get(p.competition_id or "")
            if scores is not None:
                s = scores.scores.get(p.uid)
                if s is not None:
                    u.loss, u.competitive, u.epsilon = s.loss, s.competitive, s.epsilon
                    u.win_rate, u.round_weight = s.win_rate, s.round_weight
                    u.stale_loss = p.uid in stale
                    if not s.competitive and s.loss is not None and not u.detail:
                        u.detail = "clone filter: not better than an earlier model by the decayed epsilon"
                u.ema = scores.ema.get(p.uid, 0.0)
            report.uids[p.uid] = u

    def _set_pending_weights(self, report: RoundReport, metagraph: Metagraph | None) -> str:
        if not self.config.set_weights:
            return "weight setting is off (--no-set-weights)"
        pending = self.state.pending_weights()
        if pending is None:
            return "nothing to reward yet (no model has a score)"
        round_block, weights = pending
        last = self.state.last_weights()
        if last is not None and last.round_block is not None and last.round_block >= round_block:
            if last.weights == scoring.weight_vector(weights, len(last.weights)):
                return f"weights of round {round_block} already set at block {last.block}"
        try:
            outcome: WeightOutcome = self.weights.maybe_set(weights, round_block, metagraph)
        except Exception as exc:
            if not is_validator_fault(exc):
                raise
            logger.error("could not set weights ({}); will retry", exc)
            return f"chain unavailable: {exc}"
        report.weights_set = outcome.set
        return outcome.message

    # --- the loop -----------------------------------------------------------------------------

    def run(self, stop_event: threading.Event | None = None, max_rounds: int | None = None) -> int:
        """Run rounds as the chain advances until `stop_event` is set or `max_rounds` rounds ran."""
        stop_event = stop_event or threading.Event()
        heartbeat = _heartbeat()
        if heartbeat is not None:
            self.evaluator.on_progress = lambda: heartbeat.beat(status="evaluating")
        rounds_run = 0
        failures = 0
        logger.info(
            "validator {} on subnet {} scoring {} (state {})",
            self.hotkey, self.netuid, ", ".join(sorted(self.competitions)), self.state.path,
        )
        try:
            while not stop_event.is_set():
                wait = self.config.poll_interval_s
                try:
                    report = self.run_round()
                    failures = 0
                    if report.ran:
                        rounds_run += 1
                        if max_rounds is not None and rounds_run >= max_rounds:
                            break
                except ValidatorFault as exc:
                    failures += 1
                    wait = min(self.config.chain_backoff.max_s, self.config.poll_interval_s * 2**failures)
                    logger.error("round failed on our side ({}); retrying in {:.0f}s", exc, wait)
                if heartbeat is not None:
                    heartbeat.beat(status="waiting", rounds=rounds_run)
                stop_event.wait(wait)
        finally:
            self.close()
        return rounds_run

    def close(self) -> None:
        self.evaluator.close()
        self.models.close()
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
        self.state.close()


def _heartbeat() -> Any:
    """The ops heartbeat (a file a watchdog checks, `FLOCK_HEARTBEAT`), when the ops package is present."""
    try:
        from flock_subnet.ops.heartbeat import Heartbeat
    except ImportError:
        return None
    try:
        return Heartbeat.from_env()
    except Exception as exc:  # the heartbeat is a convenience, never a reason to stop
        logger.warning("heartbeat disabled ({})", exc)
        return None
