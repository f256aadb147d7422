#!/usr/bin/env bash
# The main job on the embedded default: a small simulated fleet on loopback, the
# collector against it, results stored in data/vidaudit.db (SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin/vidaudit
$V config check --no-secrets cameras.yaml >/dev/null   # the example inventory stays valid
$V demo
