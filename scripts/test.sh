#!/usr/bin/env bash
# Install (or reuse) the environment and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_XET=1 WANDB_MODE=disabled HF_HUB_DISABLE_TELEMETRY=1
set +e
"${FLOCK_VENV:-$root/.venv}/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[test] no tests were collected: that is a failure" >&2
  exit 1
fi
exit "$rc"
