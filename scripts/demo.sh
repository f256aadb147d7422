#!/usr/bin/env bash
# The main job on the embedded default: a small simulated fleet on loopback, the
# collector against it, results stored in data/vidaudit.db (SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
# The one Debian package the demo uses (tagged `demo` in the list): the PDF report's font.
# Without it (not root) the demo still runs; the PDF then names a font it cannot embed.
scripts/apt-install.sh --only demo scripts/debian-packages.txt ||
  echo "demo: the weekly report's PDF will not embed its font (see the README)" >&2
V=.venv/bin/vidaudit
$V config check --no-secrets cameras.yaml >/dev/null   # the example inventory stays valid
$V demo
