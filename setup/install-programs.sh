#!/usr/bin/env bash
# Install the programs of setup/programs.txt that are missing, from Debian, and say which.
# Needs apt-get and root (or sudo); otherwise prints the command to run and fails.
set -euo pipefail
list="$(dirname "$0")/programs.txt"
missing=()
while read -r prog pkg _; do
  [[ -z "$prog" || "$prog" == \#* ]] && continue
  command -v "$prog" >/dev/null 2>&1 || missing+=("$pkg")
done <"$list"
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "qloom set-up: installing Debian packages: ${pkgs}(see setup/programs.txt for why)"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "qloom set-up: error: not root and no sudo; run: apt-get install -y ${pkgs}" >&2; exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "qloom set-up: error: no apt-get here; install these with your package manager: ${pkgs}" >&2; exit 1
fi
# shellcheck disable=SC2086
$sudo apt-get install -y -qq $pkgs >/dev/null 2>&1 || {
  $sudo apt-get update -qq >/dev/null 2>&1
  $sudo apt-get install -y -qq $pkgs >/dev/null
}
echo "qloom set-up: installed ${pkgs}"
