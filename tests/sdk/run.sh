#!/usr/bin/env bash
# Runs the OpenAI-SDK suite against the gateway: makes .venv if missing, installs the pinned
# requirements, runs pytest from the repository root and exits with pytest's code.
# Usage: bash tests/sdk/run.sh [pytest args...]   (TOLLGATE_BIN=path tests another binary)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
set +e
.venv/bin/python -m pytest -q tests/sdk "$@"
code=$?
set -e
exit "$code"
