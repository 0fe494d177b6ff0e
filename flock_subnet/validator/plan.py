"""Round planning: which round it is, and what each uid has submitted for it.

Pure functions over chain data (metagraph and commitments), so every validator that reads the
same chain state plans the same round. Rounds start at genesis-aligned multiples of the
competition's `round_length_blocks`; a commitment is eligible for round `r` if it was written
at or before `r - eval_delay_blocks` (so the hidden data, seeded by the hash of block `r`, did
not exist when the model was committed). A commitment older than its hotkey's registration block
(commitments survive deregistration on chain) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from flock_subnet.chain.base import CommitmentRecord, Metagraph
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import Competition, schedule_note


class PlanStatus(str, Enum):
    """What a uid's commitment is for this round, decided at planning time (the value is what is stored)."""

    ELIGIBLE = "eligible"
    PENDING = "pending"  # committed too recently for this round: sits out, keeps its EMA
    MALFORMED = "malformed"  # not a valid commitment: a miner fault, scores zero
    NO_COMMITMENT = "no_commitment"  # scores zero
    UNKNOWN_COMPETITION = "unknown_competition"  # scores zero
    OFF_SCHEDULE = "off_schedule"  # its competition has not started or has ended: not scored, no weight

    def __str__(self) -> str:
        return self.value


def round_start(block: int, round_length: int) -> int:
    """The start block of the round that contains `block`."""
    if round_length <= 0:
        raise ValueError(f"round length must be positive, got {round_length}")
    return (max(block, 0) // round_length) * round_length


def is_eligible(commit_block: int, round_block: int, eval_delay: int) -> bool:
    return commit_block <= round_block - eval_delay


@dataclass(frozen=True)
class Submission:
    """What one uid has on chain, as seen for one round."""

    uid: int
    hotkey: str
    status: PlanStatus
    commit_block: int | None = None
    commitment: str | None = None  # the raw commitment text
    reference: protocol.ModelReference | None = None
    competition_id: str | None = None
    detail: str = ""

    @property
    def key(self) -> tuple[str, str] | None:
        """(hotkey, revision): how admissions and downloads are keyed."""
        return None if self.reference is None else (self.hotkey, self.reference.revision)


def plan_submissions(
    metagraph: Metagraph,
    commitments: Mapping[str, CommitmentRecord],
    competitions: Mapping[str, Competition],
    round_blocks: Mapping[str, int],
    block: int | None = None,
) -> list[Submission]:
    """One `Submission` per registered uid, in uid order.

    `competitions` are the competitions this validator scores and `round_blocks` their current
    round start blocks; a commitment for any other competition counts as unknown, and one for a
    competition whose schedule does not include `block` (when given) is off schedule.
    """
    plans: list[Submission] = []
    for neuron in metagraph.neurons:
        record = commitments.get(neuron.hotkey)
        if record is None:
            plans.append(Submission(neuron.uid, neuron.hotkey, PlanStatus.NO_COMMITMENT, detail="no commitment on chain"))
            continue
        if record.block < neuron.block_at_registration:  # left by an earlier registration of this hotkey
            detail = (
                f"the commitment of block {record.block} predates this hotkey's registration at block "
                f"{neuron.block_at_registration} and is ignored; commit again"
            )
            plans.append(Submission(neuron.uid, neuron.hotkey, PlanStatus.NO_COMMITMENT, detail=detail))
            continue
        base = dict(uid=neuron.uid, hotkey=neuron.hotkey, commit_block=record.block, commitment=record.data)
        try:
            reference = protocol.decode(record.data)
        except protocol.ProtocolError as exc:
            plans.append(Submission(status=PlanStatus.MALFORMED, detail=str(exc), **base))
            continue
        competition = competitions.get(reference.competition_id)
        if competition is None:
            plans.append(
                Submission(
                    status=PlanStatus.UNKNOWN_COMPETITION,
                    reference=reference,
                    competition_id=reference.competition_id,
                    detail=f"competition {reference.competition_id!r} is not scored by this validator",
                    **base,
                )
            )
            continue
        off = "" if block is None else schedule_note(competition, block)
        if off:
            plans.append(Submission(
                status=PlanStatus.OFF_SCHEDULE, reference=reference, competition_id=competition.id, detail=off, **base
            ))
            continue
        round_block = round_blocks[competition.id]
        if is_eligible(record.block, round_block, competition.eval_delay_blocks):
            status, detail = PlanStatus.ELIGIBLE, ""
        else:
            status = PlanStatus.PENDING
            detail = (
                f"committed at block {record.block}, after {round_block - competition.eval_delay_blocks} "
                f"(round {round_block} minus the {competition.eval_delay_blocks}-block eval delay); "
                "eligible from the next round"
            )
        plans.append(
            Submission(status=status, reference=reference, competition_id=competition.id, detail=detail, **base)
        )
    return plans
