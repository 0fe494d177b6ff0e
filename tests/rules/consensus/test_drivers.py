"""The replay drivers for generated networks (`generator`) and multi-epoch schedules (`schedule`).

The public vector file carries `steps` and `cases`; these tests build the other two formats from
the reference's description (and from a public `steps` vector) and replay them.
"""

from __future__ import annotations

import copy

from flock_subnet.rules.consensus.replay import generator_validators, replay_steps, replay_vector
from flock_subnet.rules.consensus.vectors import check_step
from tests.rules.consensus.vector_files import all_vectors

HP = {
    "tempo": 65534,
    "kappa_u16": 32767,
    "bonds_penalty_u16": 65535,
    "bonds_moving_average": 900000,
    "yuma3": False,
    "liquid_alpha": False,
    "max_allowed_validators": 4,
    "stake_threshold": 0,
    "activity_cutoff_factor_milli": 13889,
    "owner_uid": None,
    "rao_emission": 1_000_000_000,
    "last_mechanism_step_block": 0,
}


def graph_vector() -> dict:
    """test_512_graph's shape at n=16: 4 validators weight every server equally."""
    return {
        "id": "graph_16",
        "hyperparameters": HP,
        "generator": {
            "n": 16,
            "validators_n": 4,
            "interleave": {"0": "validators are uids 0..3", "1": "uid % 4 == 0"},
            "validator_stake_rao": 1_000_000_000,
            "server_stake_rao": 0,
            "block_at_registration": 0,
            "last_update_initial": 0,
            "first_epoch": "an epoch at block 0 with no weights sets permits = top-k stake",
            "weights": "each validator submits u16::MAX / n to every server (stored 65535), last_update 1",
            "server_self": "each server also sets a self-weight, which is masked",
            "epochs_after_weights": 3,
            "block": 1,
        },
        "expected": {
            "validators": {
                "consensus_u16": 0,
                "incentive_u16": 0,
                "dividends_u16": 16383,
                "emission_rao": 125_000_000,
                "bonds_u16[v][s]": 65535,
                "bonds_u16[v][v]": 0,
                "new_validator_permits": True,
            },
            "servers": {
                "consensus_u16": 5461,
                "incentive_u16": 5461,
                "dividends_u16": 0,
                "emission_rao": 41_666_666,
                "bonds_u16[s][*]": 0,
                "bonds_u16[validator_uid0][first_server]": 65535,
                "new_validator_permits": False,
            },
        },
        "assertion": "exact (assert_eq)",
    }


def test_generator_validators():
    assert generator_validators(16, 4, 0) == [0, 1, 2, 3]
    assert generator_validators(16, 4, 1) == [0, 4, 8, 12]


def test_generator_vector_every_variant_gives_the_same_results():
    vector = graph_vector()
    steps = list(replay_steps(vector))
    # 2 interleaves x 2 server_self variants x (setup + 3 epochs)
    assert len(steps) == 16
    assert [s.block for s in steps[:4]] == [0, 1, 1, 1]
    finals = [s for s in steps if s.expected]
    assert len(finals) == 4
    for step in finals:
        assert check_step(step.result.to_dict(), step.expected, step.assertion, step.group) == [], step.label
    record = replay_vector(vector)
    assert len(record["steps"]) == 16
    # The checker sees a wrong group value.
    wrong = copy.deepcopy(vector["expected"])
    wrong["servers"]["incentive_u16"] = 5460
    assert check_step(finals[0].result.to_dict(), wrong, "exact", finals[0].group)


def _schedule_from_steps(vector: dict) -> dict:
    """Rewrite a Yuma3 `steps` vector as a `schedule` vector (weights per epoch, dividends targets)."""
    out = {k: v for k, v in vector.items() if k != "steps"}
    weights, dividends, previous = {}, {}, None
    for step in vector["steps"]:
        if "epoch_index" not in step:
            continue
        e = step["epoch_index"]
        rows = [dict(a["set_weights"]["stored_u16"]) for a in step["actions"]]
        if rows:
            previous = [[row.get(3, 0), row.get(4, 0)] for row in rows]
            weights[str(e)] = previous
        dividends[str(e)] = step["expected"]["dividends_prop"]
    out["schedule"] = {
        "setup": "an epoch at block 2 with no weights",
        "epoch e": "weights set at block 2+e, epoch at block 3+e",
        "weights": weights,
        "weights_cols": [3, 4],
    }
    out["expected_dividends_prop"] = dividends
    out["assertion"] = "dividends abs_tol 1e-3 (only at the listed epochs)"
    return out


def test_schedule_vector_matches_its_steps_form():
    for source in [v for v in all_vectors() if str(v["id"]).startswith("test_yuma_3")]:
        schedule = _schedule_from_steps(source)
        from_steps = [s.result.to_dict() for s in replay_steps(source)]
        replayed = list(replay_steps(schedule))
        assert [s.block for s in replayed] == [s["block"] for s in source["steps"]]
        for step, expected_outputs in zip(replayed, from_steps):
            assert step.result.to_dict() == expected_outputs, step.label
            assert check_step(step.result.to_dict(), step.expected, step.assertion) == []
        assert sum(1 for s in replayed if s.expected) == 6


def test_schedule_ranges_and_bond_reset():
    source = next(v for v in all_vectors() if v["id"] == "test_yuma_3_liquid_alpha_disabled")
    schedule = _schedule_from_steps(source)
    schedule["schedule"]["weights"] = {"0..5": [[65535, 0], [65535, 0], [65535, 0]]}
    schedule["schedule"]["reset"] = "at epoch 3, after setting weights: do_reset_bonds(uid 3)"
    schedule["hyperparameters"] = dict(schedule["hyperparameters"], bonds_reset_on=True)
    schedule.pop("expected_dividends_prop")
    schedule["schedule"]["epochs"] = 6
    steps = list(replay_steps(schedule))
    assert len(steps) == 7
    bonds = [dict(s.result.bonds_u16.get(0, [])).get(3, 0) for s in steps[1:]]
    assert bonds[0] < bonds[1] < bonds[2]  # bonds to server 3 build up
    assert bonds[3] < bonds[0] + 5  # epoch 3 starts from scratch after the reset
    assert bonds[4] > bonds[3]


def test_compact_generator_record():
    vector = graph_vector()
    full = replay_vector(vector, compact=False)
    compact = replay_vector(vector, compact=True)
    assert len(full["steps"]) == 16 and len(compact["steps"]) == 4
    assert compact["steps"][0] == full["steps"][3]
    assert len(replay_vector(vector)["steps"]) == 16  # auto: small networks keep every epoch
