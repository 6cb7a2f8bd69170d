#!/usr/bin/env bash
# install-deps.sh [--apt-lists] PKG...: installs the Debian packages that are
# missing. --apt-lists also makes sure apt's package lists are there (ukbench
# fetches the guest kernel with apt-get download, which needs them).
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"  # never prompt: fail instead
if [ "${1:-}" = "--apt-lists" ]; then
  shift
  if ! apt-cache policy linux-image-amd64 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    echo "apt-get update (for the guest kernel package)"
    $sudo apt-get update -qq
  fi
fi
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
