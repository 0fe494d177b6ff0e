"""Competition files: the schema, its errors, the built-in files, operator files and schedules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from flock_subnet.cli import main
from flock_subnet.rules.competition_schema import competition_from_dict
from flock_subnet.rules.competitions import (
    COMPETITIONS,
    LOCAL,
    QWEN_05B,
    CompetitionFileError,
    ScheduleState,
    active_competitions,
    get_competition,
)
from flock_subnet.tasks.catalog import load_competition_file, load_operator_competitions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUILTIN = Path(__file__).resolve().parents[2] / "flock_subnet" / "rules" / "builtin"
MINIMAL = """
id = "arith"
description = "Arithmetic only"
architectures = ["Qwen2ForCausalLM"]
max_parameters = 520000000
max_bytes = 2147483648
sequence_length = 512
samples_per_round = 1024
round_length_blocks = 100
eval_delay_blocks = 5
reward_share = 0.25

[base]
repo_id = "Qwen/Qwen2.5-0.5B-Instruct"

[epsilon]
start = 0.01
end = 0.002
decay_blocks = 1000

[schedule]
start_block = 1000
end_block = 5000

[tasks.gcd]
weight = 2
config = { max_value = 100 }
[tasks.basic_arithmetic]
"""


def _minimal() -> dict:
    return tomllib.loads(MINIMAL)


def test_the_built_in_competitions_are_the_shipped_files():
    for competition in (LOCAL, QWEN_05B):
        assert load_competition_file(BUILTIN / f"{competition.id}.toml") == competition
    assert set(COMPETITIONS) == {"local", "qwen05b"}


def test_a_minimal_file_gets_defaults_and_the_generator_settings_merged():
    competition = competition_from_dict(_minimal(), "arith.toml")
    assert competition.weighting == "winner_take_all" and competition.production is True
    assert dict(competition.tasks) == {"basic_arithmetic": 1.0, "gcd": 2.0}
    assert competition.task_configs["gcd"]["max_value"] == 100
    assert competition.task_configs["gcd"]["min_value"] == 1  # the allow-list's default
    assert (competition.start_block, competition.end_block) == (1000, 5000)


def test_every_problem_is_listed_with_its_key_and_a_fix():
    data = _minimal()
    data["sequence_lenght"] = 512
    del data["max_bytes"]
    data["reward_share"] = "a lot"
    data["epsilon"]["start"] = 2.0
    data["weighting"] = "lottery"
    data["tasks"]["telepathy"] = {"weight": 1}
    data["tasks"]["codeio"] = {"weight": 1}
    data["tasks"]["gcd"]["config"]["difficulty"] = 9
    data["schedule"]["end_block"] = 10
    with pytest.raises(CompetitionFileError) as caught:
        competition_from_dict(data, "arith.toml")
    message = str(caught.value)
    assert message.startswith("arith.toml: 9 problem(s)")
    for expected in (
        "sequence_lenght: unknown key (did you mean 'sequence_length'?)",
        "max_bytes: required: write an integer",
        "reward_share: expected a number, got 'a lot'",
        "epsilon.start: must be in [0, 1)",
        "weighting: use 'winner_take_all' or 'softmax'",
        "tasks.telepathy: unknown task",
        "tasks.codeio: unknown task",
        "tasks.gcd.config: generator 'gcd' has no setting 'difficulty'",
        "schedule.end_block: must be after schedule.start_block",
    ):
        assert expected in message


def test_production_rounds_are_large_enough():
    data = _minimal()
    data["samples_per_round"] = 512
    with pytest.raises(CompetitionFileError, match="samples_per_round: a production competition scores at least 1024"):
        competition_from_dict(data)
    assert competition_from_dict({**data, "production": False}).samples_per_round == 512


def test_the_held_limit_is_a_small_count_that_covers_the_eval_delay():
    assert competition_from_dict(_minimal()).max_held_rounds == 2
    assert competition_from_dict({**_minimal(), "max_held_rounds": 5}).max_held_rounds == 5
    with pytest.raises(CompetitionFileError, match=r"max_held_rounds: must be in \[0, 100\]"):
        competition_from_dict({**_minimal(), "max_held_rounds": -1})
    # a miner who commits a new model waits eval_delay_blocks; that wait must not cost its score
    with pytest.raises(CompetitionFileError, match="max_held_rounds: a new commitment waits 250 blocks"):
        competition_from_dict({**_minimal(), "eval_delay_blocks": 250})
    assert competition_from_dict({**_minimal(), "eval_delay_blocks": 250, "max_held_rounds": 3}).max_held_rounds == 3


def test_types_ids_pools_and_bases_are_checked():
    data = _minimal()
    data["id"] = "Has Spaces"
    data["samples_per_round"] = True
    data["base"] = {"revision": "main"}
    data["tasks"]["pool"] = {"weight": 1}
    with pytest.raises(CompetitionFileError) as caught:
        competition_from_dict(data, "x")
    message = str(caught.value)
    assert "id: use 1-24 lowercase letters" in message
    assert "samples_per_round: expected an integer, got True" in message
    assert "base: set 'repo_id'" in message
    assert "tasks.pool: a 'pool' task needs 'private_pool'" in message
    with pytest.raises(CompetitionFileError, match="one table of keys"):
        competition_from_dict(["not", "a", "table"], "x")


def test_schedules_start_and_end_at_blocks():
    competition = competition_from_dict(_minimal())
    assert competition.schedule_state(999) is ScheduleState.UPCOMING
    assert competition.schedule_state(1000) is ScheduleState.ACTIVE
    assert competition.schedule_state(4999) is ScheduleState.ACTIVE
    assert competition.schedule_state(5000) is ScheduleState.ENDED
    assert LOCAL.schedule_state(0) is ScheduleState.ACTIVE  # no schedule: always on
    assert [c.id for c in active_competitions([LOCAL, competition], 10)] == ["local"]
    assert [c.id for c in active_competitions([LOCAL, competition], 2000)] == ["local", "arith"]


def test_toml_json_and_yaml_files_and_folders_are_loaded_and_registered(tmp_path):
    import yaml

    data = _minimal()
    folder = tmp_path / "competitions"
    folder.mkdir()
    (folder / "a.toml").write_text(MINIMAL)
    (folder / "b.json").write_text(json.dumps({**data, "id": "arith-json"}))
    (folder / "c.yaml").write_text(yaml.safe_dump({**data, "id": "arith-yaml"}))
    (folder / "notes.txt").write_text("ignored")
    loaded = load_operator_competitions([folder])
    assert [c.id for c in loaded] == ["arith", "arith-json", "arith-yaml"]
    assert get_competition("arith-yaml").tasks == loaded[0].tasks
    with pytest.raises(CompetitionFileError, match="built in"):
        load_operator_competitions([_write(tmp_path / "local.toml", MINIMAL.replace('"arith"', '"local"'))])
    with pytest.raises(CompetitionFileError, match="no such competition file or folder"):
        load_operator_competitions([tmp_path / "missing"])
    with pytest.raises(CompetitionFileError, match="not valid TOML"):
        load_competition_file(_write(tmp_path / "broken.toml", "id = "))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_competitions_validate_and_the_environment_variable(tmp_path, capsys, monkeypatch):
    good = _write(tmp_path / "arith.toml", MINIMAL)
    assert main(["competitions", "validate", str(good), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["valid"] and shown["competition"]["schedule"] == {"start_block": 1000, "end_block": 5000}
    bad = _write(tmp_path / "bad.toml", MINIMAL.replace("reward_share = 0.25", "reward_share = 7"))
    assert main(["competitions", "validate", str(bad)]) == 1
    assert "reward_share: must be in [0, 1]" in capsys.readouterr().err
    monkeypatch.setenv("FLOCK_COMPETITIONS", str(good))
    assert main(["competitions", "--json"]) == 0
    listed = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"local", "qwen05b", "arith"}
    production = listed["qwen05b"]
    assert len(production["tasks"]) >= 12 and len(production["families"]) >= 4
    assert production["samples_per_round"] >= 1024
