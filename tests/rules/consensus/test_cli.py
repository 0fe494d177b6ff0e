"""`flock-subnet yuma simulate` and the human form of `yuma replay`, through the real CLI entry point."""

from __future__ import annotations

import json

from flock_subnet.cli import main
from tests.rules.consensus.vector_files import public_vectors_file

RAO = 1_000_000_000

SUBNET = {
    "owner_uid": 0,
    "epochs": 2,
    "hyperparameters": {"tempo": 100, "max_allowed_validators": 3},
    "neurons": [
        {"uid": 0, "hotkey": "owner-hk", "owner": "owner", "stake": 0},
        {"uid": 1, "hotkey": "val-a", "owner": "alice", "stake": 600, "delegators": {"dave": 300, "erin": 100}, "take": 0.09},
        {"uid": 2, "hotkey": "val-b", "owner": "bob", "stake": 1000},
        {"uid": 3, "hotkey": "miner-1", "owner": "carol", "stake": 0},
        {"uid": 4, "hotkey": "miner-2", "owner": "frank", "stake": 0},
    ],
    "weights": {"1": {"3": 0.75, "4": 0.25, "0": 0.1}, "2": {"3": 0.75, "4": 0.25, "0": 0.1}},
}


def _run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_json(tmp_path, capsys):
    path = tmp_path / "subnet.json"
    path.write_text(json.dumps(SUBNET))
    result = _run_json(capsys, ["yuma", "simulate", str(path), "--json"])
    assert len(result["epochs"]) == 2
    last = result["epochs"][-1]
    uids = {row["uid"]: row for row in last["uids"]}
    assert uids[3]["incentive"] > uids[4]["incentive"] > 0
    assert uids[0]["incentive"] > 0  # the owner's burn weight counts in consensus...
    assert last["burned_rao"] == uids[0]["server_emission_rao"]  # ...but its incentive is burned
    earned = {(t["coldkey"], t["hotkey"], t["kind"]): t["amount_rao"] for t in result["totals"]}
    dave, erin = earned[("dave", "val-a", "dividend")], earned[("erin", "val-a", "dividend")]
    assert abs(dave / erin - 3.0) < 1e-3  # pro-rata to 300 vs 100 staked
    assert earned[("alice", "val-a", "validator_take")] > 0
    assert ("owner", "owner-hk", "owner_cut") in earned
    assert not any(k[0] == "owner" and k[2] == "incentive" for k in earned)
    stakes = {(s["hotkey"], s["coldkey"]): s["stake_rao"] for s in result["final_stakes"]}
    assert stakes[("val-a", "dave")] == 300 * RAO + dave  # payouts compound into stake

    # Overrides from flags, float mode.
    flt = _run_json(capsys, ["yuma", "simulate", str(path), "--json", "--epochs", "1", "--mode", "float", "--no-yuma3"])
    assert flt["mode"] == "float" and len(flt["epochs"]) == 1
    first = result["epochs"][0]["uids"]
    for a, b in zip(first, flt["epochs"][0]["uids"]):
        assert abs(a["incentive"] - b["incentive"]) < 1e-6


def test_simulate_csv_and_tables(tmp_path, capsys):
    stakes = tmp_path / "stakes.csv"
    stakes.write_text(
        "uid,coldkey,stake,hotkey,owner,take\n"
        "0,alice,500,val-a,1,0.18\n"
        "0,dave,250,,,\n"
        "1,carol,0,miner,,\n"
        "2,frank,0,miner-2,,\n"
    )
    weights = tmp_path / "weights.csv"
    weights.write_text("validator,miner,weight\n0,1,3\n0,2,1\n")
    result = _run_json(capsys, ["yuma", "simulate", "--stakes", str(stakes), "--weights", str(weights), "--json", "--epochs", "3"])
    earned = {(t["coldkey"], t["kind"]): t["amount_rao"] for t in result["totals"]}
    assert earned[("carol", "incentive")] > earned[("frank", "incentive")] > 0
    assert earned[("dave", "dividend")] > 0

    assert main(["yuma", "simulate", "--stakes", str(stakes), "--weights", str(weights), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "Per uid after 1 epochs" in out and "Earned per coldkey" in out and "dave" in out


def test_simulate_without_input_says_what_to_give(capsys):
    assert main(["yuma", "simulate"]) == 1
    assert "--stakes and --weights" in capsys.readouterr().err


def test_simulate_bad_json(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert main(["yuma", "simulate", str(path)]) == 1
    assert "cannot read simulation input" in capsys.readouterr().err


def test_replay_summary_table_and_filter(capsys):
    assert main(["yuma", "replay", str(public_vectors_file()), "--id", "test_bonds", "--mode", "float"]) == 0
    out = capsys.readouterr().out
    assert "test_bonds" in out and "test_zero_weights" not in out
    assert main(["yuma", "replay", str(public_vectors_file()), "--id", "test_bonds", "--check", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["failures"] == [] and len(records[0]["steps"]) == 8


def test_replay_missing_file(tmp_path, capsys):
    assert main(["yuma", "replay", str(tmp_path / "none.json")]) == 1
    assert "cannot read vectors" in capsys.readouterr().err
