#!/usr/bin/env bash
# Installs the Debian packages the end-to-end suite needs (test/e2e). Idempotent: apt is only
# touched when a package is missing. Runs as root on a fresh Debian 12 machine (CI) or locally.
set -euo pipefail

missing=()
recommends_missing=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# openssl makes the token server's signing certificate.
for pkg in docker-registry skopeo apache2-utils containerd openssl; do
  have "$pkg" || missing+=("$pkg")
done
# podman pulls in a lot of recommended packages (and services) that the suite does not need.
have podman || recommends_missing+=(podman)

if ((${#missing[@]} == 0 && ${#recommends_missing[@]} == 0)); then
  echo "e2e-setup: all packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

$SUDO apt-get update -qq
if ((${#missing[@]} > 0)); then
  echo "e2e-setup: installing ${missing[*]}"
  $SUDO apt-get install -y -qq "${missing[@]}"
fi
if ((${#recommends_missing[@]} > 0)); then
  echo "e2e-setup: installing ${recommends_missing[*]} (no recommends)"
  $SUDO apt-get install -y -qq --no-install-recommends "${recommends_missing[@]}"
fi

# The packages' services are not wanted: the suite starts its own registry and containerd,
# bound to 127.0.0.1 with private state. (apt does not start them in containers without systemd.)
for bin in docker-registry skopeo htpasswd containerd ctr podman openssl; do
  command -v "$bin" >/dev/null || { echo "e2e-setup: $bin still missing" >&2; exit 1; }
done
echo "e2e-setup: done"
