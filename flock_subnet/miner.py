"""The miner service: publish a checkpoint and commit it on chain; read back where it stands;
and the daemon that loops train -> self-evaluate -> submit when it beats the chain's best.

Why this file is longer than 400 lines: it holds the three miner flows side by side (submit,
status, daemon), which share the same chain and hub conversations and are read together, and it
is the one module the rest of the project imports for "the miner". Training, self-evaluation and
fetching other miners' models live in `flock_subnet/training/`.

`submit_model` is the only way a model leaves the machine: admission check first (a failing
model is never uploaded), upload into a private repo (nobody can copy it before the commit
exists), content and hotkey-salted hashes, `protocol.encode`, commit signed by the hotkey
(waiting out the chain's commitment rate limit when that is short), read the commitment back,
and only then make the repo public.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet import checkpoint, protocol
from flock_subnet.chain.base import Chain, ChainErrorCode
from flock_subnet.competitions import Competition, get_competition
from flock_subnet.errors import FlockError
from flock_subnet.hub.base import HubError, ModelHub, RepoNotFound
from flock_subnet.training.chain_models import ChainModel, best_chain_model, committed_models, fetch_chain_model

DEFAULT_BLOCK_TIME_S = 12.0
DEFAULT_MAX_WAIT_S = 30 * 60.0


class SubmitError(FlockError):
    """A submission that did not complete; `reasons` lists every problem, the message says what to do."""

    def __init__(self, message: str, reasons: list[str] | None = None, retry_at_block: int | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])
        self.retry_at_block = retry_at_block


@dataclass
class SubmitResult:
    """A completed submission: the reference committed, where, and what it took."""

    reference: protocol.ModelReference
    commitment: str
    commit_block: int
    uid: int
    content_hash: str
    salted_hash: str
    waited_s: float = 0.0
    already_committed: bool = False

    @property
    def repo_id(self) -> str:
        return self.reference.repo_id

    @property
    def revision(self) -> str:
        return self.reference.revision

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "competition": self.reference.competition_id,
            "commitment": self.commitment,
            "commit_block": self.commit_block,
            "uid": self.uid,
            "content_hash": self.content_hash,
            "salted_hash": self.salted_hash,
            "waited_s": round(self.waited_s, 3),
            "already_committed": self.already_committed,
        }


def _hotkey(wallet: Any) -> str:
    return wallet.hotkey.ss58_address


def _competition(competition: Competition | str) -> Competition:
    return get_competition(competition) if isinstance(competition, str) else competition


def _stage_model_files(model_dir: Path, staging: Path) -> None:
    """Copy exactly the files the content hash covers, so the hub holds what was hashed."""
    for path in checkpoint.model_files(model_dir):
        shutil.copyfile(path, staging / path.name)


def wait_for_block(
    chain: Chain,
    target: int,
    max_wait_s: float,
    block_time_s: float = DEFAULT_BLOCK_TIME_S,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Sleep until the chain reaches `target`; returns seconds waited. `SubmitError` past `max_wait_s`."""
    start = time.monotonic()
    announced = None
    while True:
        current = chain.block()
        waited = time.monotonic() - start
        if current >= target:
            return waited
        remaining = (target - current) * block_time_s
        if waited >= max_wait_s:
            raise SubmitError(
                f"the chain is at block {current}; this hotkey may commit again at block {target} "
                f"(about {remaining / 60:.1f} min from now); rerun the submission then",
                retry_at_block=target,
            )
        if announced != current:
            logger.info(
                "commitment rate limit: waiting for block {} ({} blocks, about {:.0f} s)", target, target - current, remaining
            )
            announced = current
        sleep(max(0.01, min(block_time_s / 2, max_wait_s - waited)))


def _commit_allowed_at(chain: Chain, netuid: int, hotkey: str) -> int | None:
    """The first block at which this hotkey may commit again, when the chain limits commitments."""
    limit = chain.hyperparameters(netuid).commitment_rate_limit
    previous = chain.commitments(netuid).get(hotkey)
    if not limit or previous is None:
        return None
    return previous.block + limit


def submit_model(
    chain: Chain,
    hub: ModelHub,
    wallet: Any,
    netuid: int,
    model_dir: str | Path,
    repo_id: str,
    competition: Competition | str,
    *,
    cache_dir: str | Path | None = None,
    reference_files: dict[str, bytes] | None = None,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    block_time_s: float = DEFAULT_BLOCK_TIME_S,
    sleep: Callable[[float], None] = time.sleep,
) -> SubmitResult:
    """Check, upload privately, commit on chain, verify, publish. See the module docstring."""
    from flock_subnet.evaluation.admission import check_model_dir

    comp = _competition(competition)
    model_dir = Path(model_dir)
    hotkey = _hotkey(wallet)
    protocol.validate_repo_id(repo_id)
    budget = protocol.max_repo_id_length(comp.id)
    if len(repo_id) > budget:
        raise SubmitError(
            f"repo id {repo_id!r} has {len(repo_id)} characters but competition {comp.id!r} leaves {budget} "
            f"in a {protocol.MAX_COMMITMENT_BYTES}-byte commitment; use a repo id "
            f"{len(repo_id) - budget} characters shorter"
        )
    if cache_dir is None and reference_files is None:
        from flock_subnet.training import default_cache_dir

        cache_dir = default_cache_dir()
    report = check_model_dir(model_dir, comp, hotkey, reference_files=reference_files, cache_dir=cache_dir)
    if not report.ok:
        raise SubmitError(
            f"{model_dir} would not pass admission, so nothing was uploaded or committed; fix: "
            + "; ".join(report.reasons),
            reasons=report.reasons,
        )
    content = report.content_hash or checkpoint.content_hash(model_dir)
    salted = checkpoint.salted_hash(content, hotkey)
    metagraph = chain.metagraph(netuid)
    uid = metagraph.uid_of(hotkey)
    if uid is None:
        raise SubmitError(
            f"hotkey {hotkey} is not registered on subnet {netuid}; register it first "
            f"(`btcli subnets register --netuid {netuid}`, or `flock-subnet localnet register` on the local chain)"
        )
    existing = chain.commitments(netuid).get(hotkey)
    if existing is not None:
        try:
            current = protocol.decode(existing.data)
        except protocol.ProtocolError:
            current = None
        if current is not None and current.salted_hash == salted and current.repo_id == repo_id and current.competition_id == comp.id:
            logger.info("{} is already committed at block {}; nothing to do", current.short, existing.block)
            return SubmitResult(current, existing.data, existing.block, uid, content, salted, 0.0, already_committed=True)

    allowed_at = _commit_allowed_at(chain, netuid, hotkey)
    now = chain.block()
    if allowed_at is not None and allowed_at > now and (allowed_at - now) * block_time_s > max_wait_s:
        raise SubmitError(
            f"this hotkey committed recently; the chain accepts its next commitment at block {allowed_at} "
            f"(now {now}, about {(allowed_at - now) * block_time_s / 60:.0f} min); rerun the submission then "
            "(nothing was uploaded)",
            retry_at_block=allowed_at,
        )

    revision = _upload_private(hub, model_dir, repo_id)
    reference = protocol.ModelReference(repo_id=repo_id, revision=revision, salted_hash=salted, competition_id=comp.id)
    commitment = protocol.encode(reference)
    logger.info("uploaded {} privately; committing {!r}", reference.short, commitment)
    waited = 0.0
    if allowed_at is not None and allowed_at > chain.block():
        waited += wait_for_block(chain, allowed_at, max_wait_s, block_time_s, sleep)
    waited += _commit_with_retry(chain, wallet, netuid, commitment, reference, max_wait_s - waited, block_time_s, sleep)
    record = _read_back(chain, netuid, hotkey, commitment, block_time_s, sleep)
    if record is None or record.data != commitment:
        seen = None if record is None else record.data
        raise SubmitError(
            f"the chain accepted the commitment but reads back {seen!r} instead of {commitment!r}; "
            f"the repo {repo_id} stays private; check `flock-subnet miner status` and submit again"
        )
    _publish(hub, repo_id)
    logger.info("committed {} at block {} as uid {}; the repo is public", reference.short, record.block, uid)
    return SubmitResult(reference, commitment, record.block, uid, content, salted, waited)


def _read_back(
    chain: Chain, netuid: int, hotkey: str, commitment: str, block_time_s: float, sleep: Callable[[float], None], attempts: int = 3
) -> Any:
    """This hotkey's commitment as the chain now reports it (a node may show a new one a block late)."""
    record = None
    for attempt in range(attempts):
        record = chain.commitments(netuid).get(hotkey)
        if record is not None and record.data == commitment:
            return record
        if attempt < attempts - 1:
            sleep(max(0.05, block_time_s / 2))
    return record


def _upload_private(hub: ModelHub, model_dir: Path, repo_id: str) -> str:
    try:
        try:
            hub.set_private(repo_id, True)  # an existing public repo must not show the new files early
        except RepoNotFound:
            pass
        with tempfile.TemporaryDirectory(prefix="flock-submit-") as tmp:
            _stage_model_files(model_dir, Path(tmp))
            return hub.upload(tmp, repo_id, private=True, message="Submit model")
    except HubError as exc:
        if exc.fault == "hub":
            raise SubmitError(f"the hub failed during the upload ({exc}); nothing was committed; retry later") from exc
        raise SubmitError(
            f"the hub refused the upload to {repo_id} ({exc}); check that your token (--hub.token or HF_TOKEN) "
            "may write to that repository; nothing was committed"
        ) from exc


def _commit_with_retry(
    chain: Chain,
    wallet: Any,
    netuid: int,
    commitment: str,
    reference: protocol.ModelReference,
    max_wait_s: float,
    block_time_s: float,
    sleep: Callable[[float], None],
) -> float:
    """Commit, waiting out rate limits within `max_wait_s`; returns the seconds waited."""
    waited = 0.0
    for _ in range(20):
        result = chain.commit(wallet, netuid, commitment)
        if result.ok:
            return waited
        code = result.error or ChainErrorCode.OTHER
        private_note = f"{reference.short} is uploaded but private; submit again to commit it"
        if code.is_rate_limit:
            retry_blocks = result.retry_after_blocks or 1
            target = chain.block() + retry_blocks
            waited += wait_for_block(chain, target, max(0.0, max_wait_s - waited), block_time_s, sleep)
            continue
        if code is ChainErrorCode.UNAVAILABLE:
            raise SubmitError(f"the chain could not be reached ({result.message}); {private_note} later")
        if code in (ChainErrorCode.NOT_REGISTERED, ChainErrorCode.NOT_ALLOWED_TO_COMMIT):
            raise SubmitError(f"the hotkey is not registered on subnet {netuid} ({result.message}); register, then {private_note}")
        raise SubmitError(f"the chain refused the commitment: {code.value}: {result.message}; {private_note}")
    raise SubmitError(f"the chain kept refusing the commitment as rate limited; {reference.short} stays private; retry later")


def _publish(hub: ModelHub, repo_id: str, attempts: int = 3) -> None:
    for attempt in range(attempts):
        try:
            hub.set_private(repo_id, False)
            return
        except HubError as exc:
            if exc.fault != "hub" or attempt == attempts - 1:
                raise SubmitError(
                    f"the model is committed but {repo_id} is still private ({exc}); validators cannot download it "
                    "until you make the repository public on the hub"
                ) from exc
            time.sleep(1.0 + attempt)


# ---------------------------------------------------------------------------------------- status


@dataclass
class ValidatorView:
    """How one validator currently weights this miner."""

    uid: int
    hotkey: str
    stake: int
    weight: float  # this miner's weight as stored on chain, in [0, 1]
    share: float  # this miner's share of the validator's total weight


@dataclass
class MinerStatus:
    """What this hotkey has committed and what the chain currently pays it."""

    hotkey: str
    netuid: int
    block: int
    uid: int | None
    commitment: str | None = None
    commit_block: int | None = None
    reference: dict[str, Any] | None = None
    commitment_error: str | None = None
    incentive: float = 0.0
    emission: int = 0
    stake: int = 0
    validators: list[ValidatorView] = field(default_factory=list)

    @property
    def registered(self) -> bool:
        return self.uid is not None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["registered"] = self.registered
        return data


def miner_status(chain: Chain, netuid: int, hotkey: str) -> MinerStatus:
    """This hotkey's commitment (decoded), validators' weights on it, its incentive and emission."""
    metagraph = chain.metagraph(netuid)
    neuron = metagraph.by_hotkey(hotkey)
    status = MinerStatus(hotkey=hotkey, netuid=netuid, block=metagraph.block, uid=None if neuron is None else neuron.uid)
    record = chain.commitments(netuid).get(hotkey)
    if record is not None:
        status.commitment, status.commit_block = record.data, record.block
        try:
            ref = protocol.decode(record.data)
            status.reference = dataclasses.asdict(ref)
        except protocol.ProtocolError as exc:
            status.commitment_error = str(exc)
    if neuron is None:
        return status
    status.incentive, status.emission, status.stake = neuron.incentive, neuron.emission, neuron.stake
    for vuid, row in sorted(chain.weights(netuid).items()):
        validator = metagraph.neuron(vuid)
        if validator is None:
            continue
        total = sum(row.values())
        mine = row.get(neuron.uid, 0.0)
        status.validators.append(
            ValidatorView(vuid, validator.hotkey, validator.stake, mine, mine / total if total > 0 else 0.0)
        )
    return status


# ------------------------------------------------------------------------------------- the daemon


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
    validators' evaluator, and submits when `loss < best_loss * (1 - epsilon)`, epsilon being
    the advantage validators give the earlier commit at its age. Progress and results go to
    the log and to W&B (train loss, eval losses, submissions).
    """

    def __init__(
        self,
        chain: Chain,
        hub: ModelHub,
        wallet: Any,
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
        from flock_subnet.training import TrainConfig, default_cache_dir

        self.chain, self.hub, self.wallet, self.netuid = chain, hub, wallet, netuid
        self.competition = _competition(competition)
        self.workdir = Path(workdir)
        self.repo_id = repo_id
        protocol.validate_repo_id(repo_id)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
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
        from flock_subnet.training import train

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
        result = train(config, wandb_run=_StepOffset(self._wandb(), self._wandb_step), hub=self.hub)
        self._wandb_step += result.steps + 1
        return result

    def _best_on_chain(self, seed: int, worker: Any = None) -> ChainModel | None:
        from flock_subnet.training.selfeval import evaluate_on_seed

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
        from flock_subnet.scoring import epsilon
        from flock_subnet.training.selfeval import fresh_seed, self_evaluate

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
            report.best_loss, report.best_hotkey = best.loss, best.hotkey
            age = max(0, self.chain.block() - best.commit_block)
            report.epsilon = epsilon(
                age, self.competition.epsilon_start, self.competition.epsilon_end, self.competition.epsilon_decay_blocks
            )
        if best is not None and not (own.loss < best.loss * (1.0 - report.epsilon)):
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
        """Rounds until `stop_event` is set or `max_rounds` are done; chain and hub outages are retried."""
        stop_event = stop_event or threading.Event()
        reports: list[MinerRoundReport] = []
        backoff = 5.0
        try:
            while not stop_event.is_set() and (max_rounds is None or len(reports) < max_rounds):
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
        finally:
            self.close()
        return reports

    def close(self) -> None:
        """Finish the W&B run (a later round starts a new one)."""
        if self._run is not None:
            self._run.finish()
            self._run = None
