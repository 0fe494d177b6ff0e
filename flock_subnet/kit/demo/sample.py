"""A demo-shaped subnet in seconds, without training: for the leaderboard's tests and benchmark.

The same cast as `flock-subnet demo` (owner, validators with delegators, honest miners, a base
and a copier) on a real local chain with real wallets, signatures, weights and epochs, and each
validator's real state file written through `ValidatorState`. Only the models are imaginary: each
miner commits a reference to a model with a chosen loss, and validators score those losses with
`flock_subnet.rules.scoring` exactly as a validator round does. `build_sample` returns a `DemoRun`,
so `kit.demo.report.build_results` turns it into the demo's JSON.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from flock_subnet import SPEC_VERSION
from flock_subnet.chain.wallets import create_wallet
from flock_subnet.errors import FlockError
from flock_subnet.kit.demo.run import NETUID, Actor, DemoConfig, DemoRun, EpochSnapshot, _cast, _setup_chain
from flock_subnet.kit.localchain.chain import LocalChain, ManualClock
from flock_subnet.models.checkpoint import salted_hash
from flock_subnet.rules import protocol, scoring
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.validator.report import CompetitionRound, EvalStatus, RoundReport, UidReport
from flock_subnet.validator.state import AdmissionRecord, EvalRecord, ValidatorState, WeightSet
from flock_subnet.validator.verdict import Candidate, judge

HUB_URL = "http://127.0.0.1:8765"
# who commits which model before which round: (round index, miner name, model version, loss)
SCHEDULE = (
    (0, "base", 0, 5.512),
    (0, "honest-1", 0, 4.618),
    (2, "honest-2", 0, 3.947),
    (4, "honest-0", 0, 1.826),
    (6, "copier", 0, 1.826),
    (8, "honest-1", 1, 3.871),
)
HELD = {(5, "base"), (9, "base"), (10, "base"), (11, "base")}  # (round index, miner): its hub download failed


@dataclass
class Model:
    """An imaginary model: where it is on the hub, its content hash, the loss it scores, when it was committed."""

    repo_id: str
    revision: str
    content_hash: str
    loss: float
    block: int = 0


@dataclass
class Sample:
    """What `build_sample` made: the demo-shaped run, where its files are, and what it committed."""

    run: DemoRun
    chain_path: Path
    state_paths: dict[str, Path]  # validator name -> its state file
    models: dict[str, Model] = field(default_factory=dict)  # miner name -> its current model


def _model(actor: Actor, version: int, loss: float, copied: Model | None) -> Model:
    digest = hashlib.sha256(f"{actor.name}/{version}".encode()).hexdigest()
    revision = hashlib.sha1(f"{actor.repo_id}@{version}".encode()).hexdigest()  # noqa: S324 - a git sha's shape
    return Model(str(actor.repo_id), revision, copied.content_hash if copied else digest, loss)


def _round_loss(model: Model, seed: int) -> float:
    """The same model scores a little differently on each round's hidden samples."""
    return round(model.loss * (1.0 + 0.006 * math.sin(seed % 1000)), 6)


def build_sample(workdir: str | Path, rounds: int = 12) -> Sample:
    """Build the subnet under `workdir` (a new or empty folder) and play `rounds` rounds of competition `local`."""
    workdir = Path(workdir).resolve()
    if workdir.exists() and any(workdir.iterdir()):
        raise FlockError(f"{workdir} is not empty; the sample subnet is built in a new or empty folder")
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    config = DemoConfig(workdir=workdir, miners=5, validators=2, epochs=rounds, wandb=False)
    actors = _cast(config, lambda name: create_wallet(name, "default", path=workdir / "wallets"))
    by_name = {a.name: a for a in actors}
    chain = LocalChain.open(workdir / "chain.db", clock=ManualClock())
    try:
        _setup_chain(chain, actors, lambda _message: None)
        issuance_start = chain.total_issuance()
        history_start = len(chain.epoch_history(NETUID))
        validators = [a for a in actors if a.role == "validator"]
        states = {v.name: ValidatorState(workdir / "validators" / v.name / "state.db") for v in validators}
        models: dict[str, Model] = {}
        epochs: list[EpochSnapshot] = []
        length = LOCAL.round_length_blocks
        for index in range(rounds):
            for when, name, version, loss in SCHEDULE:
                if when == index:
                    actor = by_name[name]
                    model = _model(actor, version, loss, models.get("honest-0") if name == "copier" else None)
                    salted = salted_hash(model.content_hash, actor.wallet.hotkey.ss58_address)
                    text = protocol.encode(protocol.ModelReference(model.repo_id, model.revision, salted, LOCAL.id))
                    model.block = chain.commit(actor.wallet, NETUID, text).raise_for_error().block or chain.block()
                    models[name] = model
            r = (chain.block() // length + 1) * length
            chain.advance_to(r)
            reports = {v.name: _validator_round(chain, v, states[v.name], actors, models, index, r) for v in validators}
            epoch_block = chain.next_epoch_block(NETUID)
            chain.advance_to(max(epoch_block or r, r))
            record = chain.epoch_history(NETUID)[-1]
            paid: dict[int, int] = {}
            for payout in record.payouts:
                if payout.uid is not None:
                    paid[payout.uid] = paid.get(payout.uid, 0) + int(payout.amount)
            epochs.append(EpochSnapshot(index, record.block, paid, record, reports))
        for state in states.values():
            state.close()
        run = DemoRun(
            config=config, actors=actors, epochs=epochs, metagraph=chain.metagraph(NETUID),
            weights=chain.weights(NETUID), commitments=chain.commitments(NETUID),
            history=chain.epoch_history(NETUID)[history_start:], miner_reports={}, seconds=time.monotonic() - started,
            hub_url=HUB_URL, issuance_start=issuance_start, issuance_end=chain.total_issuance(),
            takes={v.wallet.hotkey.ss58_address: chain.delegate_take(v.wallet.hotkey.ss58_address) for v in validators},
        )
    finally:
        chain.close()
    paths = {v.name: workdir / "validators" / v.name / "state.db" for v in validators}
    return Sample(run, workdir / "chain.db", paths, models)


def _validator_round(
    chain: LocalChain, validator: Actor, state: ValidatorState, actors: list[Actor], models: dict[str, Model],
    index: int, r: int,
) -> RoundReport:
    """What `Validator.run_round` records for round `r`, with the losses taken from `models`."""
    seed = int(chain.block_hash(r)[2:10], 16)
    metagraph = chain.metagraph(NETUID)
    miners = {a.uid: a for a in actors if a.role == "miner"}
    state.start_round(LOCAL.id, r, seed)
    params = scoring.ScoringParams.from_competition(LOCAL)
    streaks = state.held_streaks(LOCAL.id, r)
    found: list[Candidate] = []
    outcomes: dict[int, tuple[str, float | None, str]] = {}
    last_losses: dict[str, float] = {}
    seen_hashes: set[str] = set()
    for uid, actor in sorted(miners.items()):
        hotkey = actor.wallet.hotkey.ss58_address
        streak_hotkey, streak = streaks.get(uid, ("", 0))
        before = streak if streak_hotkey == hotkey else 0
        model = models.get(actor.name)
        if model is None:
            outcomes[uid] = ("no_commitment", None, "no commitment on chain")
            continue
        if model.block > r - LOCAL.eval_delay_blocks:
            outcomes[uid] = ("pending", None, "committed too recently for this round")
            found.append(Candidate(uid, model.block, None, held_before=before))
            continue
        state.put_admission(AdmissionRecord(hotkey, model.revision, _text(chain, actor), True, [],
                                            model.content_hash, 5_200_000, None))
        if (index, actor.name) in HELD:
            loss = state.last_loss(model.content_hash, LOCAL.id, r)
            state.log_fault("validator", "hub answered 503 Service Unavailable while downloading; retry next round",
                            uid, hotkey, r, LOCAL.id)
            outcomes[uid] = ("held", loss, "hub answered 503; the previous loss stands")
            if loss is not None:
                last_losses[model.content_hash] = loss
            found.append(Candidate(uid, model.block, EvalStatus.HELD, None, model.content_hash, before))
        else:
            loss = _round_loss(model, seed)
            status = EvalStatus.CACHED if model.content_hash in seen_hashes else EvalStatus.EVALUATED
            if state.get_eval(model.content_hash, LOCAL.id, r) is None:
                per_task = {task: round(loss * (0.9 + 0.1 * i), 6) for i, task in enumerate(sorted(LOCAL.tasks))}
                state.put_eval(EvalRecord(model.content_hash, LOCAL.id, r, seed, loss, samples=64, tokens=4096,
                                          seconds=1.5, tokens_per_s=2700.0, per_task=per_task))
            outcomes[uid] = (status.value, loss, "")
            found.append(Candidate(uid, model.block, status, loss, model.content_hash))
        seen_hashes.add(model.content_hash)
    judged = judge(found, last_losses, LOCAL.max_held_rounds)
    for uid in judged.expired:
        status, _loss, _detail = outcomes[uid]
        outcomes[uid] = (status, None, f"held {judged.held_rounds[uid]} rounds in a row: scored as a failure")
    scored = scoring.score_competition(judged.entries, params, r, state.ema(LOCAL.id), judged.held)
    final = scoring.combine_competitions({LOCAL.id: scored.ema}, {LOCAL.id: LOCAL.reward_share})
    vector = scoring.weight_vector(final, metagraph.n)
    report = RoundReport(block=chain.block(), rounds=[CompetitionRound(LOCAL.id, r, seed, scored.round_winner)])
    hotkeys = {n.uid: n.hotkey for n in metagraph.neurons}
    with state.transaction():
        state.set_ema(LOCAL.id, scored.ema, hotkeys, r)
        for neuron in metagraph.neurons:
            status, loss, detail = outcomes.get(neuron.uid, ("no_commitment", None, "no commitment on chain"))
            s = scored.scores.get(neuron.uid)
            if s is not None and not s.competitive and s.loss is not None and not detail:
                detail = "clone filter: not better than an earlier model by the decayed epsilon"
            held_rounds = judged.held_rounds.get(neuron.uid, 0)
            state.record_uid(LOCAL.id, r, neuron.uid, neuron.hotkey, status, loss, detail, held_rounds)
            report.uids[neuron.uid] = UidReport(
                uid=neuron.uid, hotkey=neuron.hotkey, status=status, competition_id=LOCAL.id, loss=loss,
                win_rate=s.win_rate if s else 0.0, round_weight=s.round_weight if s else 0.0, ema=scored.ema.get(neuron.uid, 0.0),
                competitive=bool(s and s.competitive), weight=vector[neuron.uid], detail=detail,
                held_rounds=held_rounds,
            )
        state.finish_round(LOCAL.id, r)
        if any(w > 0 for w in vector):
            state.set_pending_weights(r, dict(enumerate(vector)))
    current = {(miners[uid].wallet.hotkey.ss58_address, models[miners[uid].name].revision)
               for uid in miners if miners[uid].name in models}
    state.forget_admissions_except(current)
    if any(w > 0 for w in vector):
        uids = list(range(metagraph.n))
        result = chain.set_weights(validator.wallet, NETUID, uids, vector, version_key=SPEC_VERSION)
        state.record_weights(WeightSet(result.block, r, uids, vector, result.ok, result.message or "ok", SPEC_VERSION))
        report.weights, report.weights_set = dict(enumerate(vector)), result.ok
    return report


def _text(chain: LocalChain, actor: Actor) -> str:
    return chain.commitments(NETUID)[actor.wallet.hotkey.ss58_address].data
