#!/usr/bin/env bash
# npm dependencies, and (as root) the Debian packages the lab and its tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ "$(id -u)" = "0" ] && [ "${FABRIC_LAB:-1}" != "0" ]; then
  missing=()
  command -v bird >/dev/null || missing+=(bird2)
  [ -x /usr/lib/frr/bgpd ] || missing+=(frr)
  command -v ping >/dev/null || missing+=(iputils-ping)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v nft >/dev/null || missing+=(nftables) # the node agent's VM anti-spoofing table
  command -v python3 >/dev/null || missing+=(python3)
  [ -x /usr/bin/chromium ] || missing+=(chromium) # the dashboard's browser tests (e2e/browser)
  command -v systemd-analyze >/dev/null || missing+=(systemd) # verifies deploy/systemd (e2e/faults)
  command -v debootstrap >/dev/null || missing+=(debootstrap)          # a fresh Debian for install.sh (deploy/install-fresh-host)
  command -v systemd-nspawn >/dev/null || missing+=(systemd-container) # boots it
  if [ ${#missing[@]} -gt 0 ]; then
    echo "[ip-fabric] installing ${missing[*]} from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
  fi
fi
