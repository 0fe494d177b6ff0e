"""The lookups every part of the leaderboard shares, built once per board (pure).

Decoded commitments per uid, content hashes from the validator's admissions, each validator's
weights normalised (the chain stores max-upscaled u16 values), and every stored round replayed
with the scoring rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from flock_subnet.chain.base import CommitmentRecord, NeuronInfo
from flock_subnet.leaderboard.model import BLOCKS_PER_DAY
from flock_subnet.leaderboard.rounds import RoundOutcome, replay
from flock_subnet.leaderboard.sources import ChainExtras, ChainView, StateView
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import COMPETITIONS
from flock_subnet.validator.state import EvalRecord

ACCURACY_KEY = "accuracy"  # a competition that measures accuracy reports it under this per-task key


@dataclass(frozen=True)
class Context:
    """What every part of the assembly shares."""

    chain: ChainView
    state: StateView
    extras: ChainExtras
    hub_url: str
    references: Mapping[int, protocol.ModelReference]  # uid -> decoded current commitment
    errors: Mapping[int, str]  # uid -> why its commitment does not decode
    content_hashes: Mapping[int, str]  # uid -> content hash of the committed revision (from admissions)
    rows: Mapping[int, Mapping[int, float]]  # validator uid -> normalised weights
    epochs_per_day: float
    outcomes: Mapping[str, tuple[RoundOutcome, ...]] = field(default_factory=dict)

    def neuron(self, uid: int) -> NeuronInfo | None:
        return self.chain.metagraph.neuron(uid)

    def commitment(self, uid: int) -> CommitmentRecord | None:
        neuron = self.neuron(uid)
        return None if neuron is None else self.chain.commitments.get(neuron.hotkey)

    def per_day(self, rao: int | float) -> float:
        return float(rao) * self.epochs_per_day


def model_url(hub_url: str, reference: protocol.ModelReference | None) -> str | None:
    """The model's page on the hub at the committed revision."""
    if reference is None:
        return None
    return f"{hub_url.rstrip('/')}/{reference.repo_id}/tree/{reference.revision}"


def accuracy_of(result: EvalRecord | None) -> float | None:
    """A model's accuracy on a round, where the competition measures it (an `accuracy` field, or per-task key)."""
    if result is None:
        return None
    value = getattr(result, ACCURACY_KEY, None)
    if value is None:
        value = result.per_task.get(ACCURACY_KEY)
    return None if value is None else float(value)


def epoch_blocks(chain: ChainView, extras: ChainExtras) -> int:
    """Blocks between two epochs: what the chain says, else subtensor's tempo + 1."""
    return max(1, extras.epoch_blocks or chain.hyperparameters.tempo + 1)


def build_context(chain: ChainView, state: StateView, extras: ChainExtras, hub_url: str) -> Context:
    """Decode every commitment, match content hashes, normalise weights and replay every stored round."""
    references: dict[int, protocol.ModelReference] = {}
    errors: dict[int, str] = {}
    for neuron in chain.metagraph.neurons:
        record = chain.commitments.get(neuron.hotkey)
        if record is None:
            continue
        try:
            references[neuron.uid] = protocol.decode(record.data)
        except protocol.ProtocolError as exc:
            errors[neuron.uid] = str(exc)
    admitted = {(a.hotkey, a.revision): a.content_hash for a in state.admissions if a.ok and a.content_hash}
    hashes = {}
    for uid, reference in references.items():
        neuron = chain.metagraph.neuron(uid)
        found = admitted.get((neuron.hotkey, reference.revision)) if neuron else None
        if found:
            hashes[uid] = found
    rows = {}
    for validator, row in chain.weights.items():
        total = sum(v for v in row.values() if v > 0)
        if total > 0:
            rows[validator] = {uid: v / total for uid, v in row.items() if v > 0}
    ctx = Context(
        chain=chain, state=state, extras=extras, hub_url=hub_url, references=references, errors=errors,
        content_hashes=hashes, rows=rows, epochs_per_day=BLOCKS_PER_DAY / epoch_blocks(chain, extras),
    )
    return replace(ctx, outcomes=_outcomes(ctx))


def _outcomes(ctx: Context) -> dict[str, tuple[RoundOutcome, ...]]:
    commit_blocks = {}
    for neuron in ctx.chain.metagraph.neurons:
        record = ctx.chain.commitments.get(neuron.hotkey)
        if record is not None:
            commit_blocks[neuron.uid] = record.block
    outcomes = {}
    for competition_id, records in ctx.state.rounds.items():
        competition = COMPETITIONS.get(competition_id)
        if competition is not None:
            outcomes[competition_id] = tuple(
                replay(record, competition, commit_blocks, ctx.content_hashes) for record in records
            )
    return outcomes
