#!/usr/bin/env bash
# Install (or reuse) the environment and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
# The leaderboard's tests open its pages in a real headless browser: Debian's chromium.
if [ -z "${FLOCK_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[test] installing chromium with apt-get (the leaderboard tests open pages in a headless browser)"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); then
      echo "[test] apt-get could not install chromium: the leaderboard browser tests will fail until it is installed" >&2
    fi
  else
    echo "[test] chromium is missing and cannot be installed here (that needs root and apt-get): the leaderboard" \
      "browser tests will fail; install it with 'sudo apt-get install -y chromium' or set FLOCK_CHROMIUM" >&2
  fi
fi
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
