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
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch is pinned in pyproject.toml, so pip cannot pull another (multi-GB) build.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -e '.[test]'
  echo "$want" > "$stamp"
fi
