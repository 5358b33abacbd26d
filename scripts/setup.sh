#!/usr/bin/env bash
# Installs what a fresh machine lacks (Apache ZooKeeper from Debian, the npm
# packages) and builds. Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/share/java/zookeeper.jar ]; then
  echo "setup: installing Apache ZooKeeper (Debian package zookeeper)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq zookeeper >/dev/null
fi
# The many-hosts tests (npm run test:hosts) cut links with iptables inside network namespaces.
if ! command -v iptables >/dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing iptables (for npm run test:hosts)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
fi
command -v java >/dev/null || { echo "setup: java is missing: apt-get install -y default-jre-headless" >&2; exit 1; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
# Both native addons must load: npm 11 can skip install scripts silently.
node -e "require('zookeeper'); require('zeromq')" || { echo "setup: native addons failed to load (zookeeper, zeromq)" >&2; exit 1; }

echo "setup: building"
npm run --silent build
