"""Edge cases of the epoch named in the Yuma reference (1.3, 1.4, 1.6), in both numeric modes."""

from __future__ import annotations

import pytest

from flock_subnet.rules.consensus import (
    ConsensusInputError,
    EpochInput,
    EpochState,
    YumaParams,
    clear_uid,
    run_epoch,
)
from flock_subnet.rules.consensus.scenario import Scenario

E = 1_000_000_000
LEGACY = YumaParams(tempo=10, yuma3=False, max_allowed_validators=64)
MODES = ("exact", "float")


def epoch(stakes, weights=None, *, block=100, last_update=None, registered=None, permits=None, params=LEGACY,
          bonds=None, last_step=0, mode="exact", commit_blocks=None, n=None):
    size = n if n is not None else len(stakes)
    inputs = EpochInput(
        block=block,
        stakes=stakes,
        weights=weights or {},
        last_update=last_update if last_update is not None else [block - 1] * size,
        block_at_registration=registered if registered is not None else [0] * size,
        rao_emission=E,
        commit_blocks=commit_blocks,
        n=n,
    )
    state = EpochState(bonds=bonds or {}, validator_permits=permits if permits is not None else [True] * size,
                       last_step_block=last_step)
    return run_epoch(inputs, params, state, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_empty_weights_fall_back_to_active_stake(mode):
    r = epoch([3 * E, E, 0], permits=[True, True, False], mode=mode)
    assert r.emergency
    assert r.incentive == [0, 0, 0] and r.dividends == [0, 0, 0]
    assert r.server_emission_rao == [0, 0, 0]
    assert r.validator_emission_rao == r.emission_rao == [750_000_000, 250_000_000, 0]
    assert r.new_validator_permits == [True, True, False]


@pytest.mark.parametrize("mode", MODES)
def test_all_validators_inactive_pays_raw_stake(mode):
    weights = {0: [(2, 65535)], 1: [(2, 65535)]}
    r = epoch([3 * E, E, 0], weights, block=10_000, last_update=[1, 1, 1], permits=[True, True, False], mode=mode)
    assert r.active == [False, False, False]
    assert r.active_stake == [0, 0, 0]
    assert r.emergency
    # Raw normalised stake, ignoring activity and permits.
    assert r.validator_emission_rao == [750_000_000, 250_000_000, 0]
    assert r.consensus == [0, 0, 0]


@pytest.mark.parametrize("mode", MODES)
def test_permit_vector_shorter_than_n_forbids_the_missing_uids(mode):
    r = epoch([E, E], permits=[True], mode=mode)
    assert r.validator_emission_rao == [E, 0]
    assert r.active_stake == [1.0, 0.0]
    assert r.new_validator_permits == [True, True]
    # A validator without a permit has its weights ignored too.
    r = epoch([E, E, 0], {0: [(2, 65535)], 1: [(2, 65535)]}, permits=[True], mode=mode)
    assert r.weights_mask_norm[1] == []
    assert r.incentive[2] == 1.0


@pytest.mark.parametrize("mode", MODES)
def test_tempo_zero(mode):
    params = LEGACY.with_changes(tempo=0)
    assert params.activity_cutoff == 1
    weights = {0: [(2, 65535)], 1: [(2, 65535)]}
    bonds = {0: [(2, 65535)], 1: [(2, 65535)]}
    r = epoch([E, E, 0], weights, block=10, last_update=[9, 8, 0], params=params, bonds=bonds, mode=mode,
              registered=[0, 0, 3])
    assert r.active == [True, False, False]
    assert r.active_stake == [1.0, 0.0, 0.0]
    assert r.incentive[2] == 1.0
    # t_last = block - 0: bonds to uid 2 (registered at 3 < 10) survive; the inactive validator's
    # bond decays (no delta), the active one's grows back to the column maximum.
    assert r.bonds_u16[0] == [(2, 65535)]
    assert abs(r.dividends[0] - 0.55) < 1e-6 and abs(r.dividends[1] - 0.45) < 1e-6
    # The same network re-registered at the epoch block: every bond to it is masked away.
    r = epoch([E, E, 0], weights, block=10, last_update=[9, 8, 0], params=params, bonds=bonds, mode=mode,
              registered=[0, 0, 10])
    assert r.weights_mask_norm[0] == [] and r.emergency


@pytest.mark.parametrize("mode", MODES)
def test_reregistered_uid(mode):
    params = LEGACY.with_changes(tempo=360)
    sc = Scenario(params=params, stakes=[E, E, 0], block_at_registration=[0, 0, 0], last_update=[0, 0, 0],
                  rao_emission=E)
    sc.state.validator_permits = [True, True, False]
    sc.set_weights(0, [(2, 65535)], block=5)
    sc.set_weights(1, [(2, 65535)], block=5)
    _, _, first = sc.run(6, mode)
    assert first.incentive[2] == 1.0
    assert sc.state.bonds[0] == [(2, 65535)] and sc.state.bonds[1] == [(2, 65535)]
    # uid 2 is taken over by a new hotkey at block 7.
    sc.replace_neuron(2, block=7, new_stake=0)
    assert sc.weights[0] == [(2, 0)]  # explicit zero kept
    assert sc.weights[1] == [(2, 0)]
    assert sc.state.validator_permits[2] is False
    _, _, second = sc.run(8, mode)
    # Weights set at block 5 are older than the registration at 7: the whole column is outdated.
    assert second.weights_mask_norm[0] == [] and second.weights_mask_norm[1] == []
    assert second.emergency and second.incentive == [0.0, 0.0, 0.0]
    # Bonds on the new uid are masked (registered at or after t_last).
    assert all(j != 2 for row in second.bonds_u16.values() for j, _ in row)
    # Fresh weights after the registration count again.
    sc.set_weights(0, [(2, 65535)], block=9)
    sc.set_weights(1, [(2, 65535)], block=9)
    _, _, third = sc.run(10, mode)
    assert third.incentive[2] == 1.0


def test_clear_uid_on_plain_data():
    weights = {0: [(1, 5), (2, 7)], 1: [(0, 9)], 2: [(0, 1)]}
    state = EpochState(bonds={2: [(0, 100)], 0: [(2, 50)]}, validator_permits=[True, True, True])
    clear_uid(weights, state, 2)
    assert weights == {0: [(1, 5), (2, 0)], 1: [(0, 9)]}
    assert state.bonds == {0: [(2, 50)]}  # bonds on the uid are masked by its registration block
    assert state.validator_permits == [True, True, False]


@pytest.mark.parametrize("mode", MODES)
def test_owner_keeps_self_weight_permit_and_threshold_exemption(mode):
    params = LEGACY.with_changes(owner_uid=0, stake_threshold=10 * E)
    # Owner uid 0 has little stake but a forced permit; it weights only itself (the burn route).
    r = epoch([E, 100 * E, 0], {0: [(0, 65535)], 1: [(0, 65535)]}, params=params, mode=mode,
              permits=[False, True, False])
    assert r.new_validator_permits[0] is True
    assert r.normalised_stake[0] > 0  # exempt from the stake threshold
    assert r.weights_mask_norm[0] == [(0, 1.0)]
    assert r.incentive[0] == 1.0
    # Without an owner the same self-weight is masked.
    r = epoch([E, 100 * E, 0], {0: [(0, 65535)], 1: [(2, 65535)]}, params=LEGACY.with_changes(stake_threshold=10 * E),
              mode=mode, permits=[True, True, False])
    assert r.weights_mask_norm[0] == []
    assert r.normalised_stake[0] == 0
    assert r.new_validator_permits == [False, True, False]


@pytest.mark.parametrize("mode", MODES)
def test_topk_permits_prefer_higher_uid_on_ties(mode):
    params = LEGACY.with_changes(max_allowed_validators=2)
    r = epoch([5 * E, 5 * E, 5 * E, 0], params=params, mode=mode)
    assert r.new_validator_permits == [False, True, True, False]
    params = LEGACY.with_changes(max_allowed_validators=0)
    assert epoch([E, E], params=params, mode=mode).new_validator_permits == [False, False]
    params = LEGACY.with_changes(max_allowed_validators=10)
    assert epoch([E, 0, E], params=params, mode=mode).new_validator_permits == [True, False, True]


@pytest.mark.parametrize("mode", MODES)
def test_commit_reveal_mask(mode):
    params = LEGACY.with_changes(commit_reveal=True)
    weights = {0: [(2, 65535), (3, 65535)]}
    # uid 3 was registered at 50, after validator 0's earliest unexpired commit (40): masked.
    r = epoch([E, 0, 0, 0], weights, registered=[0, 0, 0, 50], commit_blocks={0: 40}, params=params, mode=mode,
              last_update=[99, 0, 0, 0])
    assert r.weights_mask_norm[0] == [(2, 1.0)]
    # Commit-reveal off: the same weights are kept.
    r = epoch([E, 0, 0, 0], weights, registered=[0, 0, 0, 50], commit_blocks={0: 40}, mode=mode,
              last_update=[99, 0, 0, 0])
    assert r.weights_mask_norm[0] == [(2, 0.5), (3, 0.5)]


@pytest.mark.parametrize("mode", MODES)
def test_lost_permit_empties_the_bond_row(mode):
    params = LEGACY.with_changes(max_allowed_validators=1)
    weights = {0: [(2, 65535)], 1: [(2, 65535)]}
    bonds = {0: [(2, 65535)], 1: [(2, 40000)]}
    r = epoch([2 * E, E, 0], weights, bonds=bonds, params=params, mode=mode, last_step=90)
    assert r.new_validator_permits == [True, False, False]
    assert 1 not in r.bonds_u16 and 1 not in r.state.bonds
    assert r.bonds_u16[0] == [(2, 65535)]


def test_unweighted_column_keeps_its_legacy_bonds():
    weights = {0: [(2, 65535)], 1: [(2, 65535)]}
    bonds = {0: [(2, 30000), (3, 65535)], 1: [(2, 65535), (3, 20000)]}
    r = epoch([E, E, 0, 0], weights, bonds=bonds, last_step=90)
    col3 = {i: dict(row).get(3) for i, row in r.bonds_u16.items()}
    assert col3[0] == 65535 and abs(col3[1] - 20000) <= 1  # only u16 floor drift


@pytest.mark.parametrize("mode", MODES)
def test_liquid_alpha_drops_bonds_without_a_weight_entry(mode):
    params = YumaParams(tempo=10, yuma3=True, liquid_alpha=True, alpha_low_u16=6553, alpha_high_u16=19660)
    weights = {0: [(2, 65535), (3, 0)], 1: [(2, 65535)]}
    bonds = {0: [(2, 30000), (3, 30000)], 1: [(2, 30000), (3, 30000)]}
    r = epoch([E, E, 0, 0], weights, bonds=bonds, params=params, mode=mode, last_step=90)
    b0, b1 = dict(r.bonds_u16[0]), dict(r.bonds_u16[1])
    assert 0 < b0[3] < 30000  # explicit zero weight: the bond decays
    assert 3 not in b1  # no entry at all: the bond is dropped
    assert b0[2] > 30000 and b1[2] > 30000


@pytest.mark.parametrize("mode", MODES)
def test_bonds_penalty_between_zero_and_one_interpolates(mode):
    half = YumaParams(tempo=10, yuma3=False, bonds_penalty_u16=32768)
    # Validator 1 (minority) weights uid 3 that consensus clips to 0.
    weights = {0: [(2, 65535)], 1: [(2, 32768), (3, 65535)], 4: [(2, 65535)]}
    stakes = [2 * E, E, 0, 0, 2 * E]
    full = epoch(stakes, weights, mode=mode, last_step=90)
    mixed = epoch(stakes, weights, params=half, mode=mode, last_step=90)
    assert full.consensus[3] == 0
    assert 3 not in dict(full.bonds_u16.get(1, []))
    assert dict(mixed.bonds_u16[1]).get(3, 0) > 0  # half the clipped weight still builds a bond
    assert mixed.incentive == full.incentive


def test_block_before_first_tempo_restarts_bonds():
    # LastMechansimStepBlock 0 and block < tempo: t_last = 0, every uid (reg >= 0) is masked.
    r = epoch([E, 0], {0: [(1, 65535)]}, block=5, bonds={0: [(1, 1000)]}, params=LEGACY.with_changes(tempo=360))
    assert r.bonds_u16[0] == [(1, 65535)]


def test_empty_subnet():
    r = run_epoch(EpochInput(block=1, stakes=[]), LEGACY)
    assert r.n == 0 and r.emission_rao == [] and r.to_dict()["bonds_u16"] == []


def test_n_pads_short_vectors():
    r = epoch([E], n=3, last_update=[99])
    assert len(r.emission_rao) == 3 and r.emission_rao[0] == E


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(weights={0: [(1, 5), (1, 6)]}), "appears twice"),
        (dict(weights={0: [(1, 70000)]}), "u16"),
        (dict(stakes=[-1, 1]), "non-negative"),
        (dict(last_update=[1, 2, 3]), "last_update"),
    ],
)
def test_bad_inputs_say_what_is_wrong(change, message):
    fields = dict(block=10, stakes=[1, 1], weights={}, last_update=[1, 1], block_at_registration=[0, 0])
    fields.update(change)
    with pytest.raises(ConsensusInputError, match=message):
        run_epoch(EpochInput(**fields), LEGACY, EpochState(validator_permits=[True, True]))


def test_unknown_mode():
    with pytest.raises(ConsensusInputError, match="unknown mode"):
        run_epoch(EpochInput(block=1, stakes=[1]), LEGACY, mode="decimal")


def test_state_is_not_modified():
    state = EpochState(bonds={0: [(1, 100)]}, validator_permits=[True, False], last_step_block=50)
    before = state.copy()
    epoch_input = EpochInput(block=100, stakes=[E, 0], weights={0: [(1, 65535)]}, last_update=[99, 0])
    result = run_epoch(epoch_input, LEGACY, state)
    assert state == before
    assert result.state.last_step_block == 100


@pytest.mark.parametrize("mode", MODES)
def test_dense_variant_differences(mode):
    params = YumaParams(tempo=10, yuma3=True, liquid_alpha=True, alpha_low_u16=6553, alpha_high_u16=19660, owner_uid=0)
    weights = {0: [(0, 65535)], 1: [(2, 65535)], 2: [(3, 65535)]}
    bonds = {1: [(2, 30000), (3, 30000)]}
    stakes = [E, 3 * E, E, 0]
    sparse = epoch(stakes, weights, bonds=bonds, params=params, mode=mode, last_step=90, permits=[False, True, True, False])
    dense = run_epoch(
        EpochInput(block=100, stakes=stakes, weights=weights, last_update=[99] * 4, block_at_registration=[0] * 4,
                   rao_emission=E),
        params,
        EpochState(bonds=bonds, validator_permits=[False, True, True, False], last_step_block=90),
        mode=mode,
        variant="dense",
    )
    # Owner exceptions exist only in the sparse (production) epoch.
    assert sparse.weights_mask_norm[0] == [(0, 1.0)] and sparse.new_validator_permits[0]
    assert dense.weights_mask_norm[0] == []
    # Liquid-alpha bonds without a weight entry: dropped in sparse, decayed in dense.
    assert 3 not in dict(sparse.bonds_u16[1])
    assert 0 < dict(dense.bonds_u16[1])[3] < 30000
    with pytest.raises(ConsensusInputError, match="unknown variant"):
        run_epoch(EpochInput(block=1, stakes=[1]), params, variant="diagonal")
