"""The pm2 ecosystem's multi-GPU miner: torchrun starts `neurons/miner.py` once per GPU with flags that parse.

pm2 must signal torchrun alone (a rank signalled twice stops without saving) and wait longer
than torchrun waits for its ranks to save the training state.
"""

from __future__ import annotations

import json
import os
import subprocess

from torch.distributed.run import get_args_parser

from flock_subnet.cli import build_parser
from tests.ops.helpers import ROOT

APP = "flock-miner-multigpu"


def _app(**env: str) -> dict:
    script = (
        f"const eco = require({json.dumps(str(ROOT / 'scripts' / 'ecosystem.config.js'))});"
        f"console.log(JSON.stringify(eco.apps.find(a => a.name === {json.dumps(APP)})))"
    )
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, env={**os.environ, **env})
    return json.loads(done.stdout)


def test_the_multigpu_miner_runs_the_daemon_under_torchrun_on_every_gpu():
    app = _app(FLOCK_NETUID="2", FLOCK_MINER_ARGS="--repo alice/tiny-sft --competition local --parallel fsdp --lora")
    assert app["script"].endswith("torchrun") and app["interpreter"] == "none"
    launch = get_args_parser().parse_args(app["args"])
    assert launch.nproc_per_node == "gpu" and launch.standalone and not launch.module
    assert launch.training_script == str(ROOT / "neurons" / "miner.py")
    args = build_parser().parse_args(["miner", "run", *launch.training_script_args])
    assert (args.repo, args.parallel, args.lora, args.netuid) == ("alice/tiny-sft", "fsdp", True, 2)
    assert app["treekill"] is False
    assert app["kill_timeout"] > int(launch.shutdown_timeout) * 1000
    assert app["env"]["FLOCK_HEARTBEAT"].endswith(f"{APP}.heartbeat")


def test_the_number_of_ranks_can_be_chosen():
    launch = get_args_parser().parse_args(_app(FLOCK_MINER_GPUS="4")["args"])
    assert launch.nproc_per_node == "4"
