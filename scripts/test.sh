#!/usr/bin/env bash
# The whole test suite, set-up included: the venv, a PostgreSQL server on loopback, then
# pytest on SQLite and PostgreSQL.  Outside CI a missing PostgreSQL only skips its tests;
# in CI (CI set) it is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if ! scripts/apt-install.sh scripts/debian-packages.txt; then
  if [ -n "${CI:-}" ]; then
    echo "test.sh: CI needs the Debian packages in scripts/debian-packages.txt" >&2
    exit 1
  fi
  echo "test.sh: tests that need them will be skipped" >&2
fi

if [ -z "${VIDAUDIT_TEST_PG:-}" ]; then
  if url=$(scripts/postgres.sh start); then
    export VIDAUDIT_TEST_PG="$url"
    trap 'scripts/postgres.sh stop' EXIT
  elif [ -n "${CI:-}" ]; then
    echo "test.sh: could not start PostgreSQL, and CI needs it" >&2
    exit 1
  else
    echo "test.sh: PostgreSQL unavailable; its tests will be skipped" >&2
  fi
fi

mkdir -p test-artifacts
.venv/bin/python -m pytest "$@"
