#!/usr/bin/env bash
# The test command: builds, runs ava (TAP), and ends with the plain line
# `N passed, N failed` that CI reads. `--chaos` runs the long chaos suite;
# `--hosts` the many-hosts tests (network namespaces: root on Linux only).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2 || exit 1

config=ava.config.js
if [ "${1:-}" = "--chaos" ]; then config=ava.chaos.config.js; fi
if [ "${1:-}" = "--hosts" ]; then
  config=ava.hosts.config.js
  why=$(node --input-type=module -e "import { whyNoHosts } from './dist/test/helpers/hosts/network.js'; process.stdout.write((await whyNoHosts()) ?? '')")
  if [ -n "$why" ]; then
    echo "test:hosts skipped: $why"
    exit 0
  fi
fi

out=$(mktemp)
npx ava --config "$config" --tap 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+' "$out" || true)
failed=$(grep -cE '^not ok [0-9]+' "$out" || true)
rm -f "$out"
echo "$passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
