#!/usr/bin/env bash
# Run the README's two set-up commands as a new user would: a fresh clone of the committed
# tree, a fresh venv WITHOUT system site packages, then `make demo` and `make test`.
# Anything installed by hand into this machine's Python is invisible here, so a missing
# install step fails. Usage: setup/fresh-check.sh [WORKDIR]   (default /tmp/qloom-fresh)
# Extra make arguments go through MAKEARGS, e.g. MAKEARGS="DEMO_ARGS=--limit-train=2000".
set -euo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=${1:-/tmp/qloom-fresh}
case "$work" in /tmp/*) ;; *) echo "fresh-check: WORKDIR must be under /tmp (it is deleted first)" >&2; exit 2;; esac
rm -rf "$work"
git clone -q "$repo" "$work/qloom"
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
cd "$work/qloom"
echo "fresh-check: $(git log -1 --oneline) in $work (venv without system site packages)"
start=$(date +%s)
make demo ${MAKEARGS:-}
echo "fresh-check: make demo passed in $(( $(date +%s) - start )) s"
start=$(date +%s)
make test ${MAKEARGS:-}
echo "fresh-check: make test passed in $(( $(date +%s) - start )) s"
