#!/usr/bin/env bash
# Starts a local OFS cluster and shows it working: put, ls, get, stat, status.
# The cluster keeps running afterwards; stop it with the command printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
# The README test runs the demo from a built tree: OFS_DEMO_SKIP_SETUP=1 leaves dist/ as it is.
[ -n "${OFS_DEMO_SKIP_SETUP:-}" ] || bash scripts/setup.sh

dir=${OFS_DEMO_DIR:-/tmp/ofs-demo}
ofs() { node bin/ofs "$@"; }

if [ -f "$dir/cluster.json" ] && ofs cluster down --dir "$dir" >/dev/null 2>&1; then echo "(stopped the previous demo cluster)"; fi
mkdir -p "$dir"
echo "== ofs cluster up --dir $dir   (ZooKeeper, 2 masters, 3 chunkservers; log in $dir/supervisor.log)"
nohup node bin/ofs cluster up --dir "$dir" >"$dir/supervisor.out" 2>"$dir/supervisor.log" &
for _ in $(seq 1 120); do grep -q 'cluster ready' "$dir/supervisor.out" 2>/dev/null && break; sleep 0.5; done
grep 'cluster ready' "$dir/supervisor.out" || { echo "cluster did not come up; see $dir/supervisor.log" >&2; exit 1; }
export OFS_ZK=$(sed -n 's/.*OFS_ZK=\([^ ]*\).*/\1/p' "$dir/supervisor.out")
# Security is on: the clients need the keys cluster up made (its client key).
export OFS_KEYS=$(sed -n 's/.*OFS_KEYS=\([^ ]*\).*/\1/p' "$dir/supervisor.out")

sample="$dir/sample.bin"
head -c $((150 * 1024 * 1024)) /dev/urandom >"$sample"
echo "== ofs put $sample /demo/sample.bin   (150 MiB: 3 chunks of 64 MiB, 3 replicas each)"
ofs put "$sample" /demo/sample.bin
echo "== ofs ls /demo"
ofs ls /demo
echo "== ofs get /demo/sample.bin $dir/copy.bin"
ofs get /demo/sample.bin "$dir/copy.bin"
sha256sum "$sample" "$dir/copy.bin"
cmp -s "$sample" "$dir/copy.bin" && echo "identical: the bytes read back are the bytes written"
echo "== echo hello | ofs put - /demo/hello.txt && ofs cat /demo/hello.txt"
echo "hello, OFS" | ofs put - /demo/hello.txt
ofs cat /demo/hello.txt
echo "== ofs stat /demo/sample.bin"
ofs stat /demo/sample.bin
echo "== ofs status"
ofs status
rm -f "$sample" "$dir/copy.bin"
echo
echo "The cluster is still running. Try:  export OFS_ZK=$OFS_ZK OFS_KEYS=$OFS_KEYS; node bin/ofs ls /"
echo "Stop it with:                       node bin/ofs cluster down --dir $dir"
