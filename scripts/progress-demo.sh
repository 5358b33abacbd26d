#!/usr/bin/env bash
# Shows `ofs put`'s progress bar in a real terminal: starts a local cluster in
# a temp dir, runs `ofs put` of a file of SIZE_MIB (default 1024: 1 GiB) in a
# detached tmux session, and saves what the pane shows, once while the bar is
# moving and once when the put is done, to OUT (default progress-demo.txt).
# Stops the cluster and the session and removes the temp dir afterwards.
#   bash scripts/progress-demo.sh [SIZE_MIB] [OUT]
set -euo pipefail
size_mib=${1:-1024}
out=$(realpath -m "${2:-progress-demo.txt}")   # relative to where it is run from
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "progress-demo: needs tmux (apt-get install -y tmux)" >&2; exit 1; }
[ -f dist/src/cli/main.js ] || npm run --silent build

dir=$(mktemp -d /tmp/ofs-progress-XXXXXX)
up=""
cleanup() {
  # A tmux server of its own, its socket in the temp dir (tmux leaves a killed server's socket behind).
  tmux -S "$dir/tmux.sock" kill-server 2>/dev/null || true
  # SIGTERM: `ofs cluster up` stops every process it started, then exits.
  if [ -n "$up" ]; then kill "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

node bin/ofs cluster up --dir "$dir" >"$dir/up.out" 2>"$dir/up.log" &
up=$!
for _ in $(seq 1 120); do grep -q 'cluster ready' "$dir/up.out" 2>/dev/null && break; sleep 0.5; done
zk=$(sed -n 's/.*OFS_ZK=\([^ ]*\).*/\1/p' "$dir/up.out")
keys=$(sed -n 's/.*OFS_KEYS=\([^ ]*\).*/\1/p' "$dir/up.out")
[ -n "$zk" ] || { echo "progress-demo: the cluster did not come up; its log:" >&2; tail "$dir/up.log" >&2; exit 1; }

head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$dir/big.bin"
# The pane is 120 columns wide: the whole bar fits on one line.
tmux -S "$dir/tmux.sock" new-session -d -x 120 -y 8 \
  "OFS_ZK=$zk OFS_KEYS=$keys node bin/ofs put $dir/big.bin /demo/big.bin; echo \"exit code \$?\"; sleep 600"

pane() { tmux -S "$dir/tmux.sock" capture-pane -p; }
# While it runs: a drawing past the first buffers' worth, half way or more.
moving=""
for _ in $(seq 1 3000); do
  moving=$(pane)
  if grep -qE 'put \[.*\] +[5-9][0-9]% .*[0-9.]+ MiB/s' <<<"$moving"; then break; fi
  if grep -q 'exit code' <<<"$moving"; then break; fi
  sleep 0.2
done
for _ in $(seq 1 1200); do grep -q 'exit code' <<<"$(pane)" && break; sleep 0.5; done
done_pane=$(pane)

{
  echo "== tmux pane while \`ofs put\` of ${size_mib} MiB runs"
  sed '/^$/d' <<<"$moving"
  echo "== tmux pane when it is done"
  sed '/^$/d' <<<"$done_pane"
} >"$out"
cat "$out"
grep -q 'exit code 0' <<<"$done_pane" && grep -q '100%' <<<"$done_pane"
