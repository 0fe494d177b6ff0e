"""Put the leaderboard together: a `ChainView` and a `StateView` in, a `Board` out (pure).

Standings are ordered by what the chain pays (incentive), then the validators' weight, then the
loss, then the uid. A validator's weights on chain are max-upscaled u16 values; they are
normalised per validator before anything is summed or compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from flock_subnet.chain.base import CommitmentRecord
from flock_subnet.leaderboard.context import Context, accuracy_of, build_context, epoch_blocks, model_url
from flock_subnet.leaderboard.model import Agreement, Board, CompetitionBoard, Outsider, SourceNote, Standing, ValidatorTop
from flock_subnet.leaderboard.pages import delegates, miner_pages
from flock_subnet.leaderboard.rounds import leader_history, to_beat
from flock_subnet.leaderboard.sources import ChainExtras, ChainView, StateView
from flock_subnet.rules.competitions import COMPETITIONS, Competition


def assemble(
    chain: ChainView,
    state: StateView,
    extras: ChainExtras,
    hub_url: str,
    generated_at: float,
    seen: Mapping[str, Sequence[CommitmentRecord]] | None = None,
) -> Board:
    """The whole board. `seen` holds commitments observed earlier (hotkey -> records), if any."""
    ctx = build_context(chain, state, extras, hub_url)
    competitions = tuple(_competition(ctx, competition) for competition in _shown_competitions(ctx))
    standings = {s.uid: s for board in competitions for s in board.standings}
    notes = [SourceNote("chain", True, f"chain: {chain.label}, subnet {chain.netuid}, block {chain.block:,}"), state.note]
    if not extras.takes:
        notes.append(SourceNote(
            "validator takes", True,
            "validator takes and own stakes are not available from this chain's adapter; returns are shown before the take",
        ))
    return Board(
        netuid=chain.netuid,
        block=chain.block,
        generated_at=generated_at,
        chain_label=chain.label,
        hub_url=hub_url,
        epoch_blocks=epoch_blocks(chain, extras),
        notes=tuple(notes),
        competitions=competitions,
        outsiders=_outsiders(ctx),
        delegates=delegates(ctx),
        miners=miner_pages(ctx, standings, seen or {}),
        emission_per_day_rao=ctx.per_day(sum(n.emission for n in chain.metagraph.neurons)),
        state_path=state.path,
    )


def _shown_competitions(ctx: Context) -> list[Competition]:
    wanted = {r.competition_id for r in ctx.references.values()} | set(ctx.outcomes)
    return [c for c in COMPETITIONS.values() if c.id in wanted]


def _members(ctx: Context, competition_id: str) -> list[int]:
    return sorted(uid for uid, ref in ctx.references.items() if ref.competition_id == competition_id)


def _competition(ctx: Context, competition: Competition) -> CompetitionBoard:
    outcomes = ctx.outcomes.get(competition.id, ())
    records = ctx.state.rounds.get(competition.id, ())
    latest_outcome = outcomes[-1] if outcomes else None
    latest_record = records[-1] if records else None
    members = _members(ctx, competition.id)
    total_emission = sum(n.emission for n in ctx.chain.metagraph.neurons)
    rows: list[Standing] = []
    for uid in members:
        neuron = ctx.neuron(uid)
        if neuron is None:
            continue
        reference = ctx.references[uid]
        commitment = ctx.commitment(uid)
        status, loss, detail = ("not evaluated yet", None, "")
        if latest_record is not None and uid in latest_record.uids:
            status, loss, detail = latest_record.uids[uid]
        in_round = latest_outcome is not None and any(e.uid == uid for e in latest_outcome.entries)
        content_hash = ctx.content_hashes.get(uid)
        result = None
        if latest_record is not None and content_hash:
            result = ctx.state.evals.get((content_hash, competition.id, latest_record.round_block))
        accuracy = accuracy_of(result)
        rows.append(Standing(
            rank=0,
            uid=uid,
            hotkey=neuron.hotkey,
            coldkey=neuron.coldkey,
            reference=reference,
            model_url=model_url(ctx.hub_url, reference),
            commit_block=None if commitment is None else commitment.block,
            loss=None if loss is None or not math.isfinite(loss) else float(loss),
            loss_round=None if latest_record is None else latest_record.round_block,
            held=status == "held",
            accuracy=accuracy,
            win_rate=latest_outcome.win_rates.get(uid, 0.0) if in_round else None,  # type: ignore[union-attr]
            competitive=(uid in latest_outcome.competitive) if in_round else None,  # type: ignore[union-attr]
            weight=_stake_weighted(ctx, uid),
            incentive=neuron.incentive,
            emission_per_day_rao=ctx.per_day(neuron.emission),
            emission_share=neuron.emission / total_emission if total_emission else 0.0,
            status=str(status),
            detail=detail or "",
            held_rounds=0 if latest_record is None else latest_record.held_rounds.get(uid, 0),
        ))
    rows.sort(key=lambda s: (-s.incentive, -s.weight, s.loss if s.loss is not None else math.inf, s.uid))
    standings = tuple(replace(s, rank=i + 1) for i, s in enumerate(rows))
    return CompetitionBoard(
        competition=competition,
        standings=standings,
        rounds=leader_history(outcomes),
        to_beat=to_beat(latest_outcome, competition, ctx.chain.block),
        agreement=_agreement(ctx, members),
        has_accuracy=any(s.accuracy is not None for s in standings),
        latest_round=None if latest_record is None else latest_record.round_block,
    )


def _stake_weighted(ctx: Context, uid: int) -> float:
    """The share of the validators' weight on `uid`, each validator counted by its stake."""
    total = share = 0.0
    for validator, row in ctx.rows.items():
        neuron = ctx.neuron(validator)
        stake = float(neuron.stake) if neuron is not None else 0.0
        total += stake
        share += stake * row.get(uid, 0.0)
    return share / total if total > 0 else 0.0


def _agreement(ctx: Context, members: Sequence[int]) -> Agreement:
    tops = []
    for validator, row in sorted(ctx.rows.items()):
        neuron = ctx.neuron(validator)
        if neuron is None:
            continue
        inside = {uid: row.get(uid, 0.0) for uid in members}
        total = sum(inside.values())
        top = max(inside, key=lambda uid: (inside[uid], -uid)) if total > 0 else None
        tops.append((neuron, top, inside[top] / total if top is not None else 0.0))
    stake_on: dict[int, float] = {}
    for neuron, top, _share in tops:
        if top is not None:
            stake_on[top] = stake_on.get(top, 0.0) + float(neuron.stake)
    consensus = max(stake_on, key=lambda uid: (stake_on[uid], -uid)) if stake_on else None
    voting = sum(stake_on.values())
    validators = tuple(
        ValidatorTop(neuron.uid, neuron.hotkey, neuron.stake, top, share, neuron.last_update, top == consensus)
        for neuron, top, share in tops
    )
    return Agreement(
        validators=validators,
        consensus_uid=consensus,
        consensus_stake_share=stake_on.get(consensus, 0.0) / voting if consensus is not None and voting else 0.0,
        unanimous=bool(validators) and all(v.agrees for v in validators),
    )


def _outsiders(ctx: Context) -> tuple[Outsider, ...]:
    found = []
    for neuron in ctx.chain.metagraph.neurons:
        if neuron.uid in ctx.errors:
            found.append(Outsider(neuron.uid, neuron.hotkey, f"malformed commitment: {ctx.errors[neuron.uid]}"))
        elif neuron.uid in ctx.references and ctx.references[neuron.uid].competition_id not in COMPETITIONS:
            competition_id = ctx.references[neuron.uid].competition_id
            found.append(Outsider(neuron.uid, neuron.hotkey, f"competition {competition_id!r} does not exist"))
    return tuple(found)
