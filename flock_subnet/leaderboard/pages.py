"""The per-uid parts of the board: each miner's page and each validator's terms for delegators (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flock_subnet.chain.base import CommitmentRecord, NeuronInfo
from flock_subnet.leaderboard.context import ACCURACY_KEY, Context, model_url
from flock_subnet.leaderboard.model import CommitmentEntry, Delegate, FaultEntry, MinerPage, RoundScore, Standing
from flock_subnet.rules import protocol


def delegates(ctx: Context) -> tuple[Delegate, ...]:
    """Every validator (a permit, weights on chain or dividends), most stake first."""
    found = []
    for neuron in ctx.chain.metagraph.neurons:
        if not (neuron.validator_permit or neuron.uid in ctx.rows or neuron.dividends > 0):
            continue
        take = ctx.extras.takes.get(neuron.hotkey)
        own = ctx.extras.own_stakes.get(neuron.hotkey)
        per_day = ctx.per_day(neuron.emission)
        before_take = per_day / neuron.stake if neuron.stake > 0 else 0.0
        found.append(Delegate(
            uid=neuron.uid,
            hotkey=neuron.hotkey,
            coldkey=neuron.coldkey,
            permit=neuron.validator_permit,
            stake_rao=neuron.stake,
            own_stake_rao=own,
            delegated_rao=None if own is None else max(0, neuron.stake - own),
            delegators=ctx.extras.delegators.get(neuron.hotkey),
            take=take,
            dividends=neuron.dividends,
            validator_trust=neuron.validator_trust,
            emission_per_day_rao=per_day,
            return_per_alpha_day=None if take is None else before_take * (1.0 - take),
            return_before_take_day=before_take,
            last_update=neuron.last_update,
            weights_set=neuron.uid in ctx.rows,
        ))
    found.sort(key=lambda d: (-d.stake_rao, d.uid))
    return tuple(found)


def miner_pages(
    ctx: Context, standings: Mapping[int, Standing], seen: Mapping[str, Sequence[CommitmentRecord]]
) -> dict[int, MinerPage]:
    """A page for every uid that committed something or was scored in a stored round."""
    scored = {uid for records in ctx.state.rounds.values() for r in records for uid, (_s, loss, _d) in r.uids.items()
              if loss is not None}
    pages = {}
    for neuron in ctx.chain.metagraph.neurons:
        if ctx.commitment(neuron.uid) is None and neuron.uid not in scored:
            continue
        reference = ctx.references.get(neuron.uid)
        pages[neuron.uid] = MinerPage(
            uid=neuron.uid,
            hotkey=neuron.hotkey,
            coldkey=neuron.coldkey,
            competition_id=None if reference is None else reference.competition_id,
            standing=standings.get(neuron.uid),
            commitments=_commitments(ctx, neuron, seen.get(neuron.hotkey, ())),
            scores=_scores(ctx, neuron.uid, None if reference is None else reference.competition_id),
            faults=tuple(
                FaultEntry(f.round_block, f.kind, f.reason)
                for f in ctx.state.faults
                if f.uid == neuron.uid and (f.hotkey is None or f.hotkey == neuron.hotkey)
            ),
            incentive=neuron.incentive,
            emission_per_day_rao=ctx.per_day(neuron.emission),
            registered_at=neuron.block_at_registration,
        )
    return pages


def _decoded(text: str) -> tuple[protocol.ModelReference | None, str | None]:
    try:
        return protocol.decode(text), None
    except protocol.ProtocolError as exc:
        return None, str(exc)


def _commitments(ctx: Context, neuron: NeuronInfo, seen: Sequence[CommitmentRecord]) -> tuple[CommitmentEntry, ...]:
    """The current commitment, then what the validator admitted or refused, then what was seen before; newest first."""
    admissions = {a.revision: a for a in ctx.state.admissions if a.hotkey == neuron.hotkey}
    entries: list[CommitmentEntry] = []
    texts: set[str] = set()

    def add(source: str, text: str, block: int | None) -> None:
        if text in texts:
            return
        texts.add(text)
        reference, error = _decoded(text)
        admission = admissions.pop(reference.revision, None) if reference is not None else None
        entries.append(CommitmentEntry(
            source=source, text=text, block=block, reference=reference, error=error,
            model_url=model_url(ctx.hub_url, reference),
            admitted=None if admission is None else admission.ok,
            reasons=() if admission is None else tuple(admission.reasons),
            content_hash=None if admission is None else admission.content_hash,
            parameters=None if admission is None else admission.parameters,
        ))

    current = ctx.chain.commitments.get(neuron.hotkey)
    if current is not None:
        add("chain", current.data, current.block)
    for record in sorted(seen, key=lambda r: -r.block):
        add("seen earlier", record.data, record.block)
    for admission in sorted(admissions.values(), key=lambda a: a.reference):
        add("validator state", admission.reference, None)
    return tuple(entries)


def _scores(ctx: Context, uid: int, competition_id: str | None) -> tuple[RoundScore, ...]:
    """Every stored round of the uid's competition (of every competition if it has none), newest first."""
    found = []
    for cid, records in ctx.state.rounds.items():
        if competition_id is not None and cid != competition_id:
            continue
        outcomes = {o.round_block: o for o in ctx.outcomes.get(cid, ())}
        for record in records:
            if uid not in record.uids:
                continue
            status, loss, detail = record.uids[uid]
            outcome = outcomes.get(record.round_block)
            in_round = outcome is not None and any(e.uid == uid for e in outcome.entries)
            content_hash = ctx.content_hashes.get(uid)
            result = ctx.state.evals.get((content_hash, cid, record.round_block)) if content_hash else None
            found.append(RoundScore(
                round_block=record.round_block,
                status=str(status),
                loss=loss,
                win_rate=outcome.win_rates.get(uid, 0.0) if in_round else None,  # type: ignore[union-attr]
                won=outcome is not None and outcome.winner == uid,
                detail=detail or "",
                per_task={k: v for k, v in result.per_task.items() if k != ACCURACY_KEY} if result is not None else {},
            ))
    found.sort(key=lambda s: -s.round_block)
    return tuple(found)
