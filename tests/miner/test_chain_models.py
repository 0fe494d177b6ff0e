"""The miner submits only when the validators' own rule says its model beats the chain's best."""

from __future__ import annotations

import math

import pytest

from flock_subnet.miner.chain_models import ChainModel, beats_incumbent, incumbent_epsilon
from flock_subnet.rules import scoring
from flock_subnet.rules.competitions import LOCAL
from flock_subnet.rules.protocol import ModelReference

PARAMS = scoring.ScoringParams.from_competition(LOCAL)  # epsilon 0.02 -> 0.005 over 200 blocks


def _incumbent(loss: float | None, block: int) -> ChainModel:
    reference = ModelReference("bob/model", "a" * 40, "b" * 64, LOCAL.id)
    return ChainModel("5Bob", uid=3, reference=reference, commit_block=block, incentive=1.0, loss=loss)


def _validators_say_new_wins(new_loss: float, incumbent: ChainModel, round_block: int) -> bool:
    """What a validator round decides between the two: the new commit is later, with another uid."""
    entries = [scoring.Entry(incumbent.uid, incumbent.commit_block, incumbent.loss), scoring.Entry(9, round_block, new_loss)]
    scores = scoring.score_competition(entries, PARAMS, round_block)
    return scores.round_winner == 9


def test_the_epsilon_boundary_is_the_validators_boundary():
    incumbent = _incumbent(2.0, block=100)
    block = 150  # age 50: epsilon 0.02 - 0.015 * 50 / 200 = 0.01625
    eps = incumbent_epsilon(incumbent, block, LOCAL)
    assert eps == pytest.approx(0.01625)
    boundary = 2.0 * (1.0 - eps)
    just_below = math.nextafter(boundary, 0.0)
    assert not beats_incumbent(boundary, incumbent, block, LOCAL)  # exactly epsilon better: the incumbent keeps it
    assert beats_incumbent(just_below, incumbent, block, LOCAL)
    for loss in (boundary, just_below, 2.0, 1.0, 2.5):
        assert beats_incumbent(loss, incumbent, block, LOCAL) is _validators_say_new_wins(loss, incumbent, block), loss


def test_an_older_incumbent_is_easier_to_beat():
    incumbent = _incumbent(2.0, block=0)
    loss = 2.0 * (1.0 - 0.01)  # 1 % better
    assert not beats_incumbent(loss, incumbent, 10, LOCAL)  # fresh incumbent: about 2 % needed
    assert beats_incumbent(loss, incumbent, 400, LOCAL)  # fully decayed: 0.5 % needed
    assert incumbent_epsilon(incumbent, 400, LOCAL) == pytest.approx(LOCAL.epsilon_end)


def test_an_incumbent_without_a_loss_cannot_be_compared():
    with pytest.raises(ValueError, match="no measured loss"):
        beats_incumbent(1.0, _incumbent(None, 5), 10, LOCAL)
