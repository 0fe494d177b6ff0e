#!/usr/bin/env bash
# Create or reuse the project's virtual environment (.venv) and install flock_subnet into it
# (with its test extras, so the demo and the test commands share one environment).
# torch 2.13.0 is installed first and pinned by constraints.txt, so pip never pulls a newer
# CUDA build. Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${FLOCK_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
extras="test"

if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating virtual environment in $venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi

stamp="$venv/.flock-installed${extras:+-$extras}"
want="$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c 'import flock_subnet' 2>/dev/null; then
  echo "[bootstrap] installing torch 2.13.0 and flock_subnet${extras:+[$extras]} (first run: a few minutes)"
  "$venv/bin/python" -m pip install -q torch==2.13.0
  "$venv/bin/python" -m pip install -q -c "$root/constraints.txt" -e "$root${extras:+[$extras]}"
  echo "$want" > "$stamp"
fi
