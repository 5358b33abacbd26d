#!/usr/bin/env bash
# Installs what a fresh machine lacks (from Debian: Apache ZooKeeper; for the
# tests Chromium, tmux, jq and iptables; then the npm packages) and builds. Safe to run
# again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each Debian package with the file that shows it is there:
# zookeeper: the server OFS runs; chromium: the web console's test drives it
# headless (playwright-core, no browser download); tmux: the progress bars are
# drawn in a real terminal; jq: the README's CLI example pipes into it;
# iptables: the many-hosts tests (npm run test:hosts) cut links with it.
missing=""
[ -f /usr/share/java/zookeeper.jar ] || missing="$missing zookeeper"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
for tool in tmux jq iptables; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
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
