#!/usr/bin/env bash
# The main job on the embedded default: the example inventory into a SQLite database.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin/vidaudit
$V config check --no-secrets cameras.yaml
$V db upgrade
$V inventory sync cameras.yaml
$V inventory show
