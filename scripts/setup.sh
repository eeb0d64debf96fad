#!/usr/bin/env bash
# Create .venv and install srtrack (editable) with its pinned dependencies and the test tools.
# Idempotent: skips pip when pyproject.toml has not changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.srtrack-install-stamp"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch is pinned in pyproject.toml, so pip cannot pull another (multi-GB) build.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -e '.[test,vot]'
  # vot-toolkit without its opencv-python requirement (pyproject.toml, extra "vot")
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps vot-toolkit==0.9.0
  echo "$want" > "$stamp"
fi
