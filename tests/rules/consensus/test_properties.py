"""Properties over random subnets: float mode tracks exact mode; shares and amounts stay bounded."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flock_subnet.rules.consensus import EpochInput, EpochState, YumaParams, run_epoch, run_epochs

E = 10**12


@st.composite
def subnets(draw):
    n = draw(st.integers(2, 10))
    block = draw(st.integers(50, 400))
    stakes = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))
    stakes = [s * 10**6 for s in stakes]
    weights = {}
    for i in range(n):
        if draw(st.booleans()):
            cols = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
            weights[i] = sorted((j, draw(st.integers(0, 65535))) for j in cols)
    bonds = {}
    for i in range(n):
        if draw(st.booleans()):
            cols = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
            bonds[i] = sorted((j, draw(st.integers(0, 65535))) for j in cols)
    inputs = EpochInput(
        block=block,
        stakes=stakes,
        weights=weights,
        last_update=draw(st.lists(st.integers(0, block), min_size=n, max_size=n)),
        block_at_registration=draw(st.lists(st.integers(0, block), min_size=n, max_size=n)),
        rao_emission=E,
    )
    params = YumaParams(
        tempo=draw(st.sampled_from([0, 1, 10, 100])),
        yuma3=draw(st.booleans()),
        liquid_alpha=draw(st.booleans()),
        bonds_penalty_u16=draw(st.sampled_from([0, 32768, 65535])),
        max_allowed_validators=draw(st.integers(1, n + 1)),
        owner_uid=draw(st.one_of(st.none(), st.integers(0, n - 1))),
        stake_threshold=draw(st.sampled_from([0, 10**11])),
        alpha_low_u16=6553,
        alpha_high_u16=19660,
    )
    state = EpochState(
        bonds=bonds,
        validator_permits=draw(st.lists(st.booleans(), max_size=n)),
        last_step_block=draw(st.sampled_from([0, block - 1])),
    )
    return inputs, params, state


FLOAT_KEYS = ("consensus", "incentive", "dividends", "validator_trust", "active_stake", "normalised_stake",
              "normalized_combined_emission", "normalized_server_emission", "normalized_validator_emission")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subnets())
def test_float_mode_tracks_exact_mode(subnet):
    inputs, params, state = subnet
    exact = run_epoch(inputs, params, state, mode="exact")
    approx = run_epoch(inputs, params, state, mode="float")
    for key in FLOAT_KEYS:
        for a, b in zip(getattr(exact, key), getattr(approx, key), strict=True):
            assert abs(a - b) <= 1e-6, key
    assert exact.new_validator_permits == approx.new_validator_permits
    assert exact.emergency == approx.emergency
    for a, b in zip(exact.emission_rao, approx.emission_rao, strict=True):
        assert abs(a - b) <= 1e-6 * E
    exact_bonds = {i: dict(r) for i, r in exact.bonds_u16.items()}
    approx_bonds = {i: dict(r) for i, r in approx.bonds_u16.items()}
    assert exact_bonds.keys() == approx_bonds.keys()
    for i in exact_bonds:
        for j in set(exact_bonds[i]) | set(approx_bonds[i]):
            assert abs(exact_bonds[i].get(j, 0) - approx_bonds[i].get(j, 0)) <= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subnets())
def test_exact_mode_invariants(subnet):
    inputs, params, state = subnet
    r = run_epoch(inputs, params, state)
    n = inputs.size
    for vector in (r.incentive, r.dividends, r.active_stake, r.normalised_stake):
        total = sum(vector)
        assert total == 0 or 1 - n * 2**-32 <= total <= 1
        assert all(v >= 0 for v in vector)
    assert sum(r.emission_rao) <= E and sum(r.server_emission_rao) + sum(r.validator_emission_rao) <= E
    if any(s > 0 for s in r.normalised_stake):
        assert sum(r.emission_rao) >= E - 2 * n - E * n * 2**-31
    permitted = sum(r.new_validator_permits)
    assert permitted <= params.max_allowed_validators + (params.owner_uid is not None)
    if params.owner_uid is not None:
        assert r.new_validator_permits[params.owner_uid]
    assert all(0 <= v <= 65535 for row in r.bonds_u16.values() for _, v in row)
    assert set(r.bonds_u16) <= {i for i, p in enumerate(r.new_validator_permits) if p}
    for c, v in zip(r.consensus, r.consensus_u16):
        assert v == min(65535, int(c * 65535)) or abs(v - c * 65535) <= 1


def test_carried_state_makes_bonds_converge():
    """State carried over many epochs with steady weights: the majority's miner and validator take all."""
    inputs = [
        EpochInput(block=b, stakes=[3 * 10**9, 10**9, 0, 0], weights={0: [(2, 65535)], 1: [(3, 65535)]},
                   last_update=[b - 1, b - 1, 0, 0], rao_emission=10**9)
        for b in range(2, 40)
    ]
    params = YumaParams(tempo=1, yuma3=False)
    results = run_epochs(inputs, params, EpochState(validator_permits=[True, True, False, False], last_step_block=1))
    # uid 1 holds a quarter of the stake (< kappa): its miner's consensus is 0, so it earns nothing.
    assert results[-1].incentive == [0.0, 0.0, 1.0, 0.0]
    assert results[-1].dividends[0] == 1.0
    assert results[-1].state.bonds[0] == [(2, 65535)]
