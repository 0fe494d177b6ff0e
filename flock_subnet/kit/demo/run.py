"""The embedded default: a whole competition on one machine, with no network and no keys.

`run_demo` starts the local chain (manual clock) and the local hub server inside a work folder,
creates an owner, validators with stake, delegators staked on the validators, and miners:

- `honest` miners (the first with the largest training budget) run the real miner daemon
  (`Miner.run_round`: train -> self-evaluate -> submit only when it beats the chain's best);
- a `base` miner submits the untrained base model;
- a `copier` downloads the best honest model after it was committed and commits the same
  bytes under its own hotkey.

Each demo epoch: scheduled miner actions, then every validator runs its real round
(`Validator.run_round`, concurrently, each with its own state and chain connection), then the
chain reaches its next epoch and pays out. The outcome is collected by `demo_report`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet.chain.base import RAO_PER_TAO, Wallet
from flock_subnet.config import WandbSettings
from flock_subnet.errors import FlockError
from flock_subnet.rules.competitions import get_competition

NETUID = 1
TEMPO = 10


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs. The defaults finish in a few minutes on a 2-core CPU."""

    workdir: Path = Path(".flock/demo")
    miners: int = 4
    validators: int = 2
    epochs: int = 8
    strong_steps: int = 80  # training budget of the best honest miner (optimizer steps)
    weak_steps: int = 20  # budget of the other honest miners (the n-th gets weak_steps * n)
    eval_samples: int | None = 64  # hidden samples per model per round (None: the competition's)
    competition: str = "local"
    wandb: bool = True
    seed: int = 0
    commit_reveal: bool = False  # validators' weights as hidden commits revealed an epoch later, as on mainnet


@dataclass
class Actor:
    """One wallet of the demo and its role."""

    name: str
    role: str  # owner | validator | delegator | miner
    kind: str  # owner | validator | delegator | honest | base | copier
    wallet: Wallet
    uid: int | None = None
    repo_id: str | None = None
    train_steps: int | None = None
    stake_on: str | None = None  # delegators: the validator's name
    stake_rao: int = 0


@dataclass
class EpochSnapshot:
    """The chain right after one epoch, and the rounds the validators ran before it."""

    index: int
    block: int
    emission_by_uid: dict[int, int]  # rao credited through each uid's hotkey (owner cut, incentive, dividends)
    record: Any
    rounds: dict[str, Any] = field(default_factory=dict)  # validator name -> RoundReport


@dataclass
class DemoRun:
    """Everything `demo_report` needs to build the leaderboard, payouts, plot and JSON."""

    config: DemoConfig
    actors: list[Actor]
    epochs: list[EpochSnapshot]
    metagraph: Any
    weights: dict[int, dict[int, float]]
    commitments: dict[str, Any]
    history: list[Any]
    miner_reports: dict[str, list[Any]]
    seconds: float
    hub_url: str
    takes: dict[str, float] = field(default_factory=dict)  # validator hotkey -> delegate take
    issuance_start: int = 0  # total issuance once the subnet was set up (after registration burns)
    issuance_end: int = 0


Progress = Callable[[str], None]


def _fresh_workdir(workdir: Path) -> None:
    """Remove the previous run's chain, hub, wallets and neurons; keep the base-model cache."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("chain.db", "chain.db-wal", "chain.db-shm"):
        (workdir / name).unlink(missing_ok=True)
    for name in ("hub", "wallets", "validators", "miners", "wandb"):
        shutil.rmtree(workdir / name, ignore_errors=True)


def _cast(config: DemoConfig, make_wallet: Callable[[str], Any]) -> list[Actor]:
    if config.miners < 4:
        raise FlockError("the demo needs at least 4 miners (two honest, one base, one copier); pass --miners 4 or more")
    if config.validators < 1:
        raise FlockError("the demo needs at least one validator; pass --validators 1 or more")
    actors = [Actor("owner", "owner", "owner", make_wallet("owner"))]
    for i in range(config.validators):
        stake = (1000 - 400 * i // max(1, config.validators - 1)) * RAO_PER_TAO if config.validators > 1 else 1000 * RAO_PER_TAO
        actors.append(Actor(f"validator-{i}", "validator", "validator", make_wallet(f"validator-{i}"), stake_rao=stake))
    delegations = [(0, 300), (0, 100), (1, 200)]
    for j, (v, tao) in enumerate(delegations):
        v = v % config.validators
        actors.append(
            Actor(f"delegator-{j}", "delegator", "delegator", make_wallet(f"delegator-{j}"),
                  stake_on=f"validator-{v}", stake_rao=tao * RAO_PER_TAO)
        )
    honest = config.miners - 2
    for k in range(honest):
        steps = config.strong_steps if k == 0 else config.weak_steps * k
        actors.append(
            Actor(f"honest-{k}", "miner", "honest", make_wallet(f"honest-{k}"), repo_id=f"honest-{k}/tiny-sft", train_steps=steps)
        )
    actors.append(Actor("base", "miner", "base", make_wallet("base"), repo_id="base/tiny-base"))
    actors.append(Actor("copier", "miner", "copier", make_wallet("copier"), repo_id="copier/tiny-sft"))
    return actors


def _setup_chain(chain: Any, actors: list[Actor], progress: Progress, commit_reveal: bool = False) -> None:
    owner = actors[0]
    chain.create_subnet(
        owner.wallet,
        netuid=NETUID,
        tempo=TEMPO,
        weights_rate_limit=TEMPO // 2,
        commit_reveal_enabled=commit_reveal,
        immunity_period=1000,
        burn=RAO_PER_TAO // 10,
        max_allowed_validators=max(2, sum(a.role == "validator" for a in actors)),
    )
    owner.uid = chain.metagraph(NETUID).uid_of(owner.wallet.hotkey.ss58_address)
    burn = int(chain.hyperparameters(NETUID).extra.get("burn", RAO_PER_TAO // 10))
    by_name = {a.name: a for a in actors}
    for actor in actors:
        if actor.role in ("validator", "miner"):
            chain.fund(actor.wallet.coldkeypub.ss58_address, burn + actor.stake_rao + RAO_PER_TAO)
            actor.uid = chain.register(actor.wallet, NETUID)
            if actor.stake_rao:
                chain.add_stake(actor.wallet, actor.wallet.hotkey.ss58_address, NETUID, actor.stake_rao)
    for actor in actors:
        if actor.role == "delegator":
            validator = by_name[actor.stake_on]  # type: ignore[index]
            chain.fund(actor.wallet.coldkeypub.ss58_address, actor.stake_rao)
            chain.add_stake(actor.wallet, validator.wallet.hotkey.ss58_address, NETUID, actor.stake_rao)
    progress(
        f"subnet {NETUID}: owner uid {owner.uid}, "
        + ", ".join(f"{a.name} uid {a.uid}" for a in actors if a.uid is not None and a.role != "owner")
    )
    # validator permits are handed out at an epoch: let one pass before the competition starts
    chain.advance_to(chain.next_epoch_block(NETUID))


def _copy_best(chain: Any, hub_for: Callable[[str], Any], copier: Actor, victim: Actor, workdir: Path, competition: Any,
               cache_dir: Path) -> Any:
    """The copier fetches the victim's committed model and commits the same bytes as its own."""
    from flock_subnet.miner.daemon import submit_model
    from flock_subnet.rules import protocol

    record = chain.commitments(NETUID).get(victim.wallet.hotkey.ss58_address)
    if record is None:
        raise FlockError(f"{victim.name} has nothing committed for the copier to copy")
    reference = protocol.decode(record.data)
    stolen = hub_for(copier.name).download(reference.repo_id, reference.revision, workdir / "miners" / "copier" / "stolen")
    return submit_model(chain, hub_for(copier.name), copier.wallet, NETUID, stolen, copier.repo_id, competition,
                        cache_dir=cache_dir)


def run_demo(config: DemoConfig, progress: Progress | None = None) -> DemoRun:
    """Run the whole competition and return what happened (see `demo_report` to present it)."""
    from flock_subnet.chain.wallets import create_wallet
    from flock_subnet.hub.huggingface import HuggingFaceHub
    from flock_subnet.kit.localchain.chain import LocalChain, ManualClock
    from flock_subnet.kit.localhub.server import start_hub_server
    from flock_subnet.miner.daemon import Miner, submit_model
    from flock_subnet.miner.training import TrainConfig
    from flock_subnet.models.tiny import base_model_dir
    from flock_subnet.validator.service import Validator, ValidatorConfig

    say = progress or (lambda message: logger.info(message))
    # validators evaluate concurrently: share the cores instead of oversubscribing them
    os.environ.setdefault("FLOCK_TORCH_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, config.validators))))
    started = time.monotonic()
    workdir = Path(config.workdir).resolve()
    _fresh_workdir(workdir)
    cache_dir = workdir / "cache"
    competition = get_competition(config.competition)
    wallets_dir = workdir / "wallets"
    actors = _cast(config, lambda name: create_wallet(name, "default", path=wallets_dir))
    by_name = {a.name: a for a in actors}
    tokens = {a.name: f"hf_demo_{a.name.replace('-', '_')}" for a in actors if a.role == "miner"}
    wandb_settings = WandbSettings(project="flock-subnet-demo", off=not config.wandb, directory=str(workdir))

    say(f"building the '{competition.id}' base model (cached in {cache_dir})")
    base_dir = base_model_dir(competition, cache_dir)

    with start_hub_server(workdir / "hub", tokens=tokens) as hub_server:
        say(f"local hub at {hub_server.url}; local chain at {workdir / 'chain.db'}")

        def hub_for(name: str | None) -> Any:
            return HuggingFaceHub(hub_server.url, token=tokens.get(name) if name else None)

        chain = LocalChain.open(workdir / "chain.db", clock=ManualClock())
        _setup_chain(chain, actors, say, config.commit_reveal)

        validator_chains = {a.name: LocalChain.open(workdir / "chain.db") for a in actors if a.role == "validator"}
        validators = {
            a.name: Validator(
                validator_chains[a.name], hub_for(None), a.wallet, NETUID, [competition], workdir / "validators" / a.name,
                wandb_settings=wandb_settings,
                config=ValidatorConfig(eval_timeout_s=600, eval_samples=config.eval_samples, cache_dir=cache_dir,
                                       poll_interval_s=0.1),
            )
            for a in actors if a.role == "validator"
        }
        honest = [a for a in actors if a.kind == "honest"]
        miners = {
            a.name: Miner(
                chain, hub_for(a.name), a.wallet, NETUID, competition, workdir / "miners" / a.name, a.repo_id,  # type: ignore[arg-type]
                TrainConfig(output_dir=workdir / "miners" / a.name, competition=competition.id, max_steps=a.train_steps,
                            save_every=0, cache_dir=cache_dir, seed=config.seed + i, data_seed=1000 * (i + 1),
                            progress_bar=False),
                wandb_settings=None, cache_dir=cache_dir, block_time_s=0.0, max_wait_s=0.0,
            )
            for i, a in enumerate(honest)
        }
        miner_reports: dict[str, list[Any]] = {name: [] for name in miners}

        # Who acts when: the weaker honest miners and the base first, the strongest one epoch
        # later (it trains longer), the copier once the strongest model is public.
        schedule: dict[int, list[str]] = {0: ["base"] + [a.name for a in honest[1:]], 1: [honest[0].name], 2: ["copier"]}

        def act(name: str) -> None:
            actor = by_name[name]
            if actor.kind == "base":
                result = submit_model(chain, hub_for(name), actor.wallet, NETUID, base_dir, actor.repo_id, competition,  # type: ignore[arg-type]
                                      cache_dir=cache_dir)
                say(f"{name} (uid {actor.uid}) committed the untrained base {result.reference.short} at block {result.commit_block}")
            elif actor.kind == "honest":
                say(f"{name} (uid {actor.uid}) trains for {actor.train_steps} steps, self-evaluates, and submits if it wins")
                report = miners[name].run_round()
                miner_reports[name].append(report)
                say(f"{name}: self-eval loss {report.loss:.3f}; {report.decision}")
            elif actor.kind == "copier":
                result = _copy_best(chain, hub_for, actor, honest[0], workdir, competition, cache_dir)
                say(f"{name} (uid {actor.uid}) re-committed {honest[0].name}'s model as {result.reference.short}")

        epochs: list[EpochSnapshot] = []
        issuance_start = chain.total_issuance()
        history_start = len(chain.epoch_history(NETUID))
        pool = ThreadPoolExecutor(max_workers=len(validators))
        try:
            length = competition.round_length_blocks
            for index in range(config.epochs):
                for name in schedule.get(index, []):
                    act(name)
                # one chain epoch per step; the validators run every round that starts up to it
                epoch_block = chain.next_epoch_block(NETUID)
                rounds: dict[str, Any] = {}
                round_start = (chain.block() // length + 1) * length
                while round_start <= epoch_block:
                    chain.advance_to(round_start)
                    say(f"epoch {index + 1}/{config.epochs}: validators run round {round_start}")
                    futures = {name: pool.submit(v.run_round) for name, v in validators.items()}
                    rounds = {name: f.result() for name, f in futures.items()}
                    for name, report in rounds.items():
                        say(f"  {name}: {report.evaluations_run} evaluated, {report.evaluations_cached} cached; "
                            + ("weights set" if report.weights_set else f"weights not set ({report.weights_message})"))
                    round_start += length
                chain.advance_to(epoch_block)
                record = chain.epoch_history(NETUID)[-1]
                paid: dict[int, int] = {}
                for payout in record.payouts:
                    if payout.uid is not None:
                        paid[payout.uid] = paid.get(payout.uid, 0) + int(payout.amount)
                epochs.append(EpochSnapshot(index, record.block, paid, record, rounds))
        finally:
            pool.shutdown(wait=True)
            for v in validators.values():
                v.close()

        run = DemoRun(
            config=config,
            actors=actors,
            epochs=epochs,
            metagraph=chain.metagraph(NETUID),
            weights=chain.weights(NETUID),
            commitments=chain.commitments(NETUID),
            history=chain.epoch_history(NETUID)[history_start:],
            miner_reports=miner_reports,
            seconds=time.monotonic() - started,
            hub_url=hub_server.url,
            issuance_start=issuance_start,
            issuance_end=chain.total_issuance(),
            takes={a.wallet.hotkey.ss58_address: chain.delegate_take(a.wallet.hotkey.ss58_address)
                   for a in actors if a.role == "validator"},
        )
        for c in validator_chains.values():
            c.close()
        chain.close()
    return run
