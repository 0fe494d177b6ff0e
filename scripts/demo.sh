#!/usr/bin/env bash
# Install (or reuse) the environment and run the embedded default: a whole competition on this
# machine, with no network and no keys. Extra arguments go to `flock-subnet demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
export HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1
exec "${FLOCK_VENV:-$root/.venv}/bin/flock-subnet" demo "$@"
