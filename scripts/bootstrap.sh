#!/usr/bin/env bash
# Idempotent set-up of the project's virtual environment: creates .venv and installs
# exactly requirements/dev.lock (every file checked against its sha256), then vidaudit
# itself in editable mode; again only when the lock or pyproject.toml has changed.
# A lock that is stale (pyproject.toml changed without `make lock`) or edited by hand
# stops here: scripts/lock.py check says which and what to run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then need_apt+=(python3 python3-venv python3-pip); fi
if command -v "$PYTHON" >/dev/null 2>&1 && ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  need_apt+=(python3-venv)
fi
if ((${#need_apt[@]})); then
  echo "bootstrap: installing ${need_apt[*]} from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"vidaudit needs Python >= 3.11; {sys.executable} is {sys.version.split()[0]}")
PY

if ! "$PYTHON" scripts/lock.py check; then
  echo "bootstrap: refusing to install from a lock that does not match pyproject.toml" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi

stamp=".venv/.installed-$(cat requirements/dev.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing requirements/dev.lock (hash-checked) and vidaudit into .venv" >&2
  # pip's own version comes from the lock too: the first pass may replace pip itself.
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
    -r requirements/dev.lock
  # The project itself has no hash (it is this checkout); its dependencies are all above,
  # and its build backend (hatchling) is in the lock, so nothing unlocked is fetched.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    --no-build-isolation -e .
  # What an older lock installed and this one dropped goes, so the venv is the lock.
  .venv/bin/python scripts/lock.py prune
  rm -f .venv/.installed-*
  touch "$stamp"
fi
