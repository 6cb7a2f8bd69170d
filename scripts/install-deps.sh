#!/usr/bin/env bash
# install-deps.sh [--apt-lists] PKG...: installs the Debian packages that are
# missing, without starting their services: ukbench copies the servers'
# binaries (NSD, BIND, lighttpd, Apache) and its tests start the daemons they
# need themselves (libvirtd, sshd), so nothing is left listening on :22, :53
# or :80. For the install, a /usr/sbin/policy-rc.d that exits 101 ("action
# forbidden", honoured by invoke-rc.d and deb-systemd-invoke) is put in place
# when there is none, and removed after. --apt-lists also makes sure apt's
# package lists are there (ukbench fetches the guest kernel with apt-get
# download, which needs them).
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
echo "installing (services not started): ${missing[*]}"
$sudo apt-get update -qq
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ] && [ ! -L "$policy" ]; then
  # Ours: removed however the install ends.
  trap '$sudo rm -f "$policy"' EXIT
  printf '#!/bin/sh\n# scripts/install-deps.sh (ukbench): no service starts during its install\nexit 101\n' |
    $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
