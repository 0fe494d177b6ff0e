"""Assembling a board from a hand-made chain and state: what a subtensor node shows, accuracy, outsiders."""

from __future__ import annotations

import time

from flock_subnet.chain.base import CommitmentRecord, Hyperparameters, Metagraph, NeuronInfo
from flock_subnet.leaderboard import render
from flock_subnet.leaderboard.assemble import assemble
from flock_subnet.leaderboard.model import BLOCKS_PER_DAY, SourceNote
from flock_subnet.leaderboard.sources import ChainExtras, ChainView, RoundRecord, StateView
from flock_subnet.rules import protocol
from flock_subnet.validator.state import AdmissionRecord, EvalRecord

RAO = 10**9
HASHES = {2: "a" * 64, 3: "b" * 64}


def neuron(uid: int, stake: int = 0, permit: bool = False, incentive: float = 0.0, emission: int = 0) -> NeuronInfo:
    return NeuronInfo(uid=uid, hotkey=f"5Hotkey{uid:02d}" + "x" * 40, coldkey=f"5Cold{uid:02d}" + "y" * 42, stake=stake,
                      validator_permit=permit, incentive=incentive, dividends=0.5 if permit else 0.0, emission=emission,
                      last_update=990, block_at_registration=10)


def reference(uid: int, competition: str = "qwen05b") -> str:
    return protocol.encode(protocol.ModelReference(f"miner{uid}/model", f"{uid:040x}", "c" * 64, competition))


def chain_view() -> ChainView:
    neurons = (neuron(0, 4000 * RAO, True, emission=2 * RAO), neuron(1, 1000 * RAO, True, emission=RAO // 2),
               neuron(2, incentive=0.9, emission=3 * RAO), neuron(3, incentive=0.1, emission=RAO // 3), neuron(4))
    commitments = {
        neurons[2].hotkey: CommitmentRecord(neurons[2].hotkey, reference(2), 100),
        neurons[3].hotkey: CommitmentRecord(neurons[3].hotkey, reference(3), 400),
        neurons[4].hotkey: CommitmentRecord(neurons[4].hotkey, "f1:qwen05b:not a commitment", 500),
    }
    hyper = Hyperparameters(tempo=360, weights_rate_limit=100, commit_reveal_enabled=False, weights_version=1,
                            max_weight_limit=65535, min_allowed_weights=1, immunity_period=4096, max_allowed_uids=256)
    weights = {0: {2: 1.0, 3: 0.25}, 1: {3: 1.0}}
    return ChainView(7, 1000, Metagraph(7, 1000, neurons), commitments, weights, hyper, "ws://node:9944")


def state_view() -> StateView:
    rounds = tuple(
        RoundRecord("qwen05b", r, 1, None, {2: ("evaluated", 1.50, ""), 3: ("evaluated", 1.40 if r == 720 else 1.6, "")})
        for r in (360, 720)
    )
    chain = chain_view()
    admissions = tuple(
        AdmissionRecord(chain.metagraph.neuron(uid).hotkey, f"{uid:040x}", reference(uid), True, [], HASHES[uid],
                        500_000_000, None)
        for uid in (2, 3)
    )
    evals = {(HASHES[2], "qwen05b", 720): EvalRecord(HASHES[2], "qwen05b", 720, 1, 1.5, per_task={"accuracy": 0.61})}
    return StateView(SourceNote("validator state", True, "read"), {"qwen05b": rounds}, admissions, evals, (), "/v/state.db")


def test_a_subtensor_node_gives_standings_agreement_and_says_what_it_cannot_tell():
    board = assemble(chain_view(), state_view(), ChainExtras(), "https://huggingface.co", time.time())
    [competition] = board.competitions
    assert [s.uid for s in competition.standings] == [2, 3]
    top, second = competition.standings
    assert top.accuracy == 0.61 and second.accuracy is None and competition.has_accuracy
    # uid 3 committed later with a loss of 1.40 < 1.50 * (1 - epsilon): it wins the latest round
    assert competition.rounds[-1].leader_uid == 3 and competition.rounds[-1].new_leader
    assert second.win_rate == 1.0 and top.win_rate == 0.0
    # weights: validator 0 (4000 α) gives 0.8 / 0.2, validator 1 (1000 α) gives 0 / 1
    assert top.weight == (4000 * 0.8) / 5000 and second.weight == (4000 * 0.2 + 1000) / 5000
    assert top.emission_per_day_rao == 3 * RAO * BLOCKS_PER_DAY / 361  # subtensor: an epoch every tempo + 1 blocks
    agreement = competition.agreement
    assert [(v.uid, v.top_uid) for v in agreement.validators] == [(0, 2), (1, 3)]
    assert agreement.consensus_uid == 2 and not agreement.unanimous and agreement.consensus_stake_share == 0.8
    assert [(o.uid, o.reason.startswith("malformed commitment")) for o in board.outsiders] == [(4, True)]
    assert all(d.take is None and d.return_per_alpha_day is None for d in board.delegates)
    index = render.index_page(board)
    assert ">accuracy</th>" in index and "61.0 %" in index and "Not entirely: 80.0 % of the voting stake" in index
    delegators = render.delegators_page(board)
    assert delegators.count("not available") >= 4 and "before take" in delegators
    assert any("not available from this chain" in note.message for note in board.notes)


def test_without_a_state_the_chain_part_still_renders():
    note = SourceNote("validator state", False, "no validator state given: pass --validator.workdir")
    board = assemble(chain_view(), StateView(note), ChainExtras(), "https://huggingface.co", time.time())
    [competition] = board.competitions
    assert competition.to_beat is None and competition.rounds == () and competition.latest_round is None
    assert [s.uid for s in competition.standings] == [2, 3] and all(s.loss is None for s in competition.standings)
    index = render.index_page(board)
    assert "no validator state given" in index and "the first valid model takes the lead" in index
    assert "Scores need a validator state" in render.miner_page(board, 2)
    assert render.miner_page(board, 1) is None  # a validator without a commitment has no miner page
