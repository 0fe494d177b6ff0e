"""The validator service: block-based rounds that turn miners' models into weights on chain.

One round (`Validator.run_round`), the same on every validator, is a pipeline of small steps
passing the data of `validator.pipeline` along:

1. plan -> `RoundPlan`: for each competition the round starts at `r`, the genesis-aligned
   multiple of its `round_length_blocks` at or below the current block; seed =
   `rules.data.round_seed(hash of r)`. Read the metagraph and commitments and plan each uid
   (`validator.plan`): eligible if committed at or before `r - eval_delay_blocks`, pending if
   later, malformed (a miner fault), or nothing.
2. admit + evaluate -> `EvaluatedRound`: admit new or changed references (`validator.models`,
   downloads prefetched in a thread pool while the main thread evaluates), then evaluate every
   eligible model, new ones first, in the sandboxed worker (`validator.evaluations`). Results
   are cached per (content hash, round): a restart never re-evaluates.
3. score -> `ScoredRound`: the held/zero decision (`validator.verdict`), then losses -> clone
   filter -> epsilon win rates -> round weights -> EMA -> reward shares -> normalised weights
   (`rules.scoring`).
4. persist: the round's outcome, the EMAs and the fault log in one transaction.
5. set weights when the rate limit allows (`validator.weights`), and delete model folders no
   commitment refers to.
6. report -> `RoundReport`, logged to W&B.

Miner faults score zero; validator faults are retried with backoff and hold the miner's score
(`validator.faults`). `run()` repeats rounds as blocks pass.
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
from flock_subnet.errors import Fault
from flock_subnet.evaluation.admission import load_reference_files
from flock_subnet.hub.base import ModelHub
from flock_subnet.ops.heartbeat import Heartbeat
from flock_subnet.rules import scoring
from flock_subnet.rules.competitions import Competition, get_competition, schedule_note
from flock_subnet.rules.data import round_seed
from flock_subnet.telemetry import WandbRun, start_wandb_run
from flock_subnet.validator import plan as planning
from flock_subnet.validator.base_accuracy import base_accuracy
from flock_subnet.validator.evaluations import RoundEvaluator
from flock_subnet.validator.faults import Backoff, ValidatorFault, is_validator_fault, retry
from flock_subnet.validator.models import ModelStore
from flock_subnet.validator.pipeline import EvaluatedRound, RoundPlan, ScoredRound, round_faults, score_round
from flock_subnet.validator.report import CompetitionRound, EvalStatus, RoundReport
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
    eval_devices: tuple[str, ...] | None = None  # evaluation devices; None: every visible GPU, else one worker
    eval_workers: int | None = None  # warm evaluation workers; None: one per device (`evaluation.pool`)


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
            base_cache_dir=self.config.cache_dir or self.workdir / "base",
        )
        self.evaluator = RoundEvaluator(
            self.state, self.models, self.competitions, self.config.eval_timeout_s, self.config.memory_limit_mb,
            self.config.eval_backoff, sleep=sleep, samples=self.config.eval_samples,
            devices=self.config.eval_devices, workers=self.config.eval_workers,
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
            if not competition.is_active(block):  # outside its schedule: no round, no weight
                continue
            r = planning.round_start(block, competition.round_length_blocks)
            progress_ = self.state.round_progress(competition.id, r)
            if progress_ is None or progress_.status != "done":
                due[competition.id] = r
        return due

    def off_schedule(self, block: int) -> dict[str, str]:
        """competition id -> why it is not scored at `block`, for those outside their schedule."""
        notes = {c: schedule_note(comp, block) for c, comp in self.competitions.items()}
        return {c: note for c, note in notes.items() if note}

    # --- the round ----------------------------------------------------------------------------

    def run_round(self) -> RoundReport:
        """Run every competition whose current round is not finished yet, then try to set weights."""
        started = time.monotonic()
        block = self._chain(self.chain.block, "reading the block")
        due = self.due_rounds(block)
        if not due:
            weights = self._set_weights(None)
            return RoundReport(block, weights_set=weights.set, weights_message=weights.message,
                               seconds=time.monotonic() - started, skipped=self.off_schedule(block))
        plan = self._plan(block, due)
        evaluated = self._evaluate(plan)
        scored = self._score(plan, evaluated)
        self._persist(plan, evaluated, scored)
        weights = self._set_weights(plan.metagraph)
        self._tidy(plan)
        return self._report(plan, evaluated, scored, weights, started)

    def _plan(self, block: int, due: Mapping[str, int]) -> RoundPlan:
        """Seed the due rounds, read the metagraph and commitments, and plan every uid."""
        metagraph = self._chain(lambda: self.chain.metagraph(self.netuid), "reading the metagraph")
        commitments = self._chain(lambda: self.chain.commitments(self.netuid), "reading commitments")
        rounds: dict[str, tuple[int, int]] = {}
        for competition_id, r in due.items():
            seed = round_seed(self._chain(lambda r=r: self.chain.block_hash(r), f"reading the hash of block {r}"))
            rounds[competition_id] = (r, seed)
            self.state.start_round(competition_id, r, seed)
            logger.info("round {} of {} (seed {}) at block {}", r, competition_id, seed, block)
        reset = self.state.reset_changed_hotkeys({n.uid: n.hotkey for n in metagraph.neurons})
        if reset:
            logger.info("uids {} changed hands; their scores start from zero", reset)
        current = {c: planning.round_start(block, comp.round_length_blocks) for c, comp in self.competitions.items()}
        plan = RoundPlan(block, rounds, metagraph, planning.plan_submissions(metagraph, commitments, self.competitions, current, block))
        for p in plan.pending:
            logger.info("uid {} {} waits: {}", p.uid, p.reference.short, p.detail)  # type: ignore[union-attr]
        return plan

    def _evaluate(self, plan: RoundPlan) -> EvaluatedRound:
        """Admit and evaluate every eligible submission (cached results first)."""
        downloads_before = self.models.downloads
        outcomes, stats = self.evaluator.run(plan.eligible, plan.rounds)
        gated = sorted({s.competition_id for s in plan.eligible if s.competition_id is not None
                        and self.competitions[s.competition_id].require_accuracy_at_least_base})
        base = {c: base_accuracy(self.evaluator, c, *plan.rounds[c]) for c in gated}
        return EvaluatedRound(outcomes, stats, self.models.downloads - downloads_before, base)

    def _score(self, plan: RoundPlan, evaluated: EvaluatedRound) -> ScoredRound:
        """Read the EMAs and earlier losses the scoring needs, and score the round."""
        active = {c: comp for c, comp in self.competitions.items() if comp.is_active(plan.block)}
        emas = {c: self.state.ema(c) for c in active}
        last_losses: dict[str, dict[str, float]] = {c: {} for c in plan.rounds}
        for sub in plan.eligible:
            outcome = evaluated.outcomes[sub.uid]
            if outcome.status == EvalStatus.HELD and outcome.content_hash and sub.competition_id is not None:
                loss = self.state.last_loss(outcome.content_hash, sub.competition_id, plan.round_block(sub.competition_id))
                if loss is not None:
                    last_losses[sub.competition_id][outcome.content_hash] = loss
        streaks = {c: self.state.held_streaks(c, round_block) for c, (round_block, _seed) in plan.rounds.items()}
        return score_round(plan, evaluated.outcomes, active, emas, last_losses, streaks, evaluated.base_accuracy)

    def _persist(self, plan: RoundPlan, evaluated: EvaluatedRound, scored: ScoredRound) -> None:
        """Faults, EMAs, per-uid rows and the weights to set: all at once, or not at all."""
        with self.state.transaction():
            for note in round_faults(plan, evaluated.outcomes):
                self.state.log_fault(
                    note.kind.value, note.reason, note.uid, note.hotkey, note.round_block, note.competition_id
                )
                log = logger.warning if note.kind is Fault.MINER else logger.error
                log("uid {} {} fault: {}", note.uid, note.kind.value, note.reason)
            hotkeys = plan.hotkeys
            for competition_id, (r, _seed) in plan.rounds.items():
                self.state.set_ema(competition_id, scored.scores[competition_id].ema, hotkeys, r)
                for u in scored.uids.values():
                    if u.competition_id == competition_id or u.competition_id is None:
                        self.state.record_uid(
                            competition_id, r, u.uid, u.hotkey, u.status.value, u.loss, u.detail, u.held_rounds
                        )
                self.state.finish_round(competition_id, r)
            if any(w > 0 for w in scored.weights.values()):
                self.state.set_pending_weights(max(r for r, _seed in plan.rounds.values()), scored.weights, plan.hotkeys)

    def _set_weights(self, metagraph: Metagraph | None) -> WeightOutcome:
        """Set the pending weights on chain if there are any and the rate limit allows."""
        if not self.config.set_weights:
            return WeightOutcome(False, "weight setting is off (--no-set-weights)")
        self.weights.track_reveals()
        pending = self.state.pending_weights()
        if pending is None:
            return WeightOutcome(False, "nothing to reward yet (no model has a score)")
        round_block, weights = pending
        last = self.state.last_weights()
        if last is not None and last.round_block is not None and last.round_block >= round_block:
            if last.weights == scoring.weight_vector(weights, len(last.weights)):
                return WeightOutcome(False, f"weights of round {round_block} already set at block {last.block}")
        try:
            return self.weights.maybe_set(weights, round_block, metagraph, self.state.pending_hotkeys())
        except Exception as exc:
            if not is_validator_fault(exc):
                raise
            logger.error("could not set weights ({}); will retry", exc)
            return WeightOutcome(False, f"chain unavailable: {exc}")

    def _tidy(self, plan: RoundPlan) -> None:
        """Delete model folders and admissions no commitment refers to any more."""
        if self.config.keep_models:
            return
        keep = plan.keep
        self.models.cleanup(keep)
        self.state.forget_admissions_except(keep)

    def _report(
        self, plan: RoundPlan, evaluated: EvaluatedRound, scored: ScoredRound, weights: WeightOutcome, started: float
    ) -> RoundReport:
        """The round's report, logged to W&B and to the log."""
        seconds = time.monotonic() - started
        report = RoundReport(
            block=plan.block,
            rounds=[
                CompetitionRound(c, r, seed, scored.scores[c].round_winner, evaluated.base_accuracy.get(c))
                for c, (r, seed) in plan.rounds.items()
            ],
            skipped=self.off_schedule(plan.block),
            uids=scored.uids,
            weights=scored.weights,
            weights_set=weights.set,
            weights_message=weights.message,
            evaluations_run=evaluated.stats.evaluated,
            evaluations_cached=evaluated.stats.cached,
            downloads=evaluated.downloads,
            seconds=seconds,
            timings={**evaluated.stats.timings(), "round_s": seconds},
        )
        report.log_to(self._wandb_run(plan.metagraph))
        self.weights.log_to(self._wandb_run(plan.metagraph), plan.block)
        logger.info(
            "round done in {:.1f}s: {} evaluated, {} cached; {}", report.seconds, report.evaluations_run,
            report.evaluations_cached, "weights set" if report.weights_set else report.weights_message,
        )
        return report

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


def _heartbeat() -> Heartbeat | None:
    """The ops heartbeat (a file a watchdog checks, `FLOCK_HEARTBEAT`)."""
    try:
        return Heartbeat.from_env()
    except Exception as exc:  # the heartbeat is a convenience, never a reason to stop
        logger.warning("heartbeat disabled ({})", exc)
        return None
