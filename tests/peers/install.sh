#!/usr/bin/env bash
# Installs every real peer the tests talk to, from the project's own files. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# tinyproxy: the forward proxy of the network layer's tests; chromium and chromium-driver: the
# browser tests of the HTML pages (tests/test_pages.py).
apt_pkgs=(prometheus prometheus-alertmanager prometheus-blackbox-exporter tinyproxy chromium
  chromium-driver fonts-dejavu-core)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start their daemons; tests run their own on free ports instead.
for svc in prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter tinyproxy; do
  (systemctl stop "$svc" || service "$svc" stop || true) >/dev/null 2>&1
done

(cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)

for script in "$here"/*/install.sh; do
  bash "$script"
done
