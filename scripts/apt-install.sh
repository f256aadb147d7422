#!/usr/bin/env bash
# Install the Debian packages listed in the given files that are not installed yet.
#   scripts/apt-install.sh [--only TAG] FILE...
# A line is a package name, then optional tags ('#' starts a comment):
#   fonts-wqy-zenhei  demo      # used by `make demo` too, not only by the tests
# With --only TAG just the lines carrying TAG count.  Idempotent: with everything present
# it touches nothing.  Needs root (CI and the project's machines run as root); otherwise it
# says what is missing and leaves the decision to the caller (exit 1).
set -euo pipefail
only=
if [ "${1:-}" = --only ]; then only=$2; shift 2; fi
missing=()
for file in "$@"; do
  while read -r line; do
    line=${line%%#*}
    read -r pkg tags <<<"$line" || true
    [[ -z "${pkg:-}" ]] && continue
    if [ -n "$only" ] && [[ " ${tags:-} " != *" $only "* ]]; then continue; fi
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done <"$file"
done
((${#missing[@]} == 0)) && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "apt-install.sh: missing Debian packages (run as root to install): ${missing[*]}" >&2
  exit 1
fi
echo "apt-install.sh: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
