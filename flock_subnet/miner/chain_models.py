"""Models other miners committed: list them from the chain, admit and download them as validators do.

Used to start training from the competition's current best model, and by the miner daemon to
measure the model it has to beat and to decide, with the validators' own rule
(`scoring.later_commit_wins`), whether a new model would beat it. Downloads go through the
`ModelHub` at exactly the committed revision, through the same admission code validators run
(nothing is executed or unpickled), once per revision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from flock_subnet.chain.base import Chain
from flock_subnet.hub.base import ModelHub
from flock_subnet.rules import protocol, scoring
from flock_subnet.rules.competitions import Competition


@dataclass
class ChainModel:
    """A committed model of the competition, admitted and downloaded into `folder`."""

    hotkey: str
    uid: int
    reference: protocol.ModelReference
    commit_block: int
    incentive: float
    folder: Path | None = None
    loss: float | None = None
    reasons: list[str] = field(default_factory=list)


def committed_models(chain: Chain, netuid: int, competition: Competition) -> list[ChainModel]:
    """Every registered hotkey's decodable commitment for this competition, best-paid first."""
    metagraph = chain.metagraph(netuid)
    models = []
    for hotkey, record in chain.commitments(netuid).items():
        neuron = metagraph.by_hotkey(hotkey)
        if neuron is None:
            continue
        try:
            ref = protocol.decode(record.data)
        except protocol.ProtocolError:
            continue
        if ref.competition_id == competition.id:
            models.append(ChainModel(hotkey, neuron.uid, ref, record.block, neuron.incentive))
    models.sort(key=lambda m: (-m.incentive, m.commit_block, m.uid))
    return models


def fetch_chain_model(
    hub: ModelHub, model: ChainModel, dest_root: Path, competition: Competition, cache_dir: Path | None = None
) -> ChainModel:
    """Admit and download `model` (once per revision) exactly as a validator does."""
    from flock_subnet.evaluation.admission import admit_reference

    name = f"{model.reference.repo_id.replace('/', '--')}-{model.reference.revision[:12]}"
    dest = dest_root / name
    marker = dest_root / f"{name}.admitted.json"
    if marker.is_file() and dest.is_dir():
        model.folder = dest
        return model
    report = admit_reference(hub, model.reference, model.hotkey, dest, competition, cache_dir=cache_dir)
    if report.ok:
        model.folder = dest
        marker.write_text(json.dumps(report.to_dict()) + "\n")
    else:
        model.reasons = list(report.reasons)
    return model


def best_chain_model(
    chain: Chain,
    hub: ModelHub,
    netuid: int,
    competition: Competition,
    dest_root: Path,
    cache_dir: Path | None = None,
    top: int = 3,
) -> ChainModel | None:
    """The best-paid admissible committed model of the competition, downloaded; None when there is none."""
    for model in committed_models(chain, netuid, competition)[: max(1, top)]:
        fetched = fetch_chain_model(hub, model, dest_root, competition, cache_dir)
        if fetched.folder is not None:
            return fetched
    return None


def incumbent_epsilon(incumbent: ChainModel, block: int, competition: Competition) -> float:
    """The advantage validators give `incumbent` over a later commit in a round at `block`."""
    params = scoring.ScoringParams.from_competition(competition)
    return scoring.epsilon(
        block - incumbent.commit_block, params.epsilon_start, params.epsilon_end, params.epsilon_decay_blocks
    )


def beats_incumbent(loss: float, incumbent: ChainModel, block: int, competition: Competition) -> bool:
    """Would a model with `loss`, committed now, beat `incumbent` (whose `loss` is measured on the same seed)?

    The validators' pairwise rule, applied at the current `block`. A new commit is first scored
    in a later round, where the incumbent is older and its epsilon no larger, so a model that
    wins here also wins there.
    """
    if incumbent.loss is None:
        raise ValueError(f"{incumbent.reference.short} has no measured loss to compare with")
    params = scoring.ScoringParams.from_competition(competition)
    return scoring.later_commit_wins(loss, incumbent.loss, incumbent.commit_block, block, params)
