"""pm2 entry point of a miner: the `flock-subnet miner run` daemon with the same flags.

    pm2 start neurons/miner.py --name miner --interpreter .venv/bin/python -- \
        --repo alice/tiny-sft --competition local --max-seconds 600 \
        --wallet.name alice --subtensor.network embedded --hub.endpoint http://127.0.0.1:8765

Every flag also reads an environment variable (BT_NETUID, BT_WALLET_NAME, BT_WALLET_HOTKEY,
BT_SUBTENSOR_NETWORK, HF_ENDPOINT, HF_TOKEN, WANDB_*, FLOCK_MINER_REPO, FLOCK_MINER_WORKDIR,
FLOCK_COMPETITION, FLOCK_CACHE_DIR). SIGTERM saves the training state; a restart resumes it.
"""

from __future__ import annotations

import sys

from flock_subnet.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["miner", "run", *sys.argv[1:]]))
