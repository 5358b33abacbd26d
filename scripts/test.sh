#!/usr/bin/env bash
# The test command: builds, runs ava (TAP), and ends with the plain line
# `N passed, N failed` that CI reads. `--chaos` runs the long chaos suite.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2 || exit 1

config=ava.config.js
if [ "${1:-}" = "--chaos" ]; then config=ava.chaos.config.js; fi

out=$(mktemp)
npx ava --config "$config" --tap 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+' "$out" || true)
failed=$(grep -cE '^not ok [0-9]+' "$out" || true)
rm -f "$out"
echo "$passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
