/**
 * `npm run bench`: every benchmark of bench/, one after another (each starts
 * its own cluster and stops it; never two at once on this small machine).
 * Prints one JSON document on stdout (each bench's own JSON, its raw
 * baseline from the same run beside each figure), and a Markdown table of
 * the headline figures on stderr, as the README shows it.
 *   npm run bench [-- --quick]   (--quick: smaller sizes, for a first look)
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const quick = process.argv.includes('--quick');

/** Each bench, its arguments (full and quick), and how to read its headline figure and baseline. */
const BENCHES: { name: string; args: [string[], string[]]; rows: (r: any) => Row[] }[] = [
  {
    name: 'throughput',
    args: [['200'], ['64']],
    rows: (r) => [
      { figure: 'write, one client, 3 replicas (MiB/s)', ofs: r.put_MiBps, baseline: r.raw_write_fdatasync_MiBps, of: 'local write + fdatasync' },
      { figure: 'read, one client (MiB/s)', ofs: r.get_MiBps, baseline: r.raw_read_MiBps, of: 'local read, page cache warm' },
    ],
  },
  {
    name: 'appends',
    args: [[], ['100']],
    rows: (r) => [{ figure: `record appends, ${r.writers} writers, ${r.record_bytes} B (/s)`, ofs: r.ofs_appends_per_s, baseline: r.local_fdatasync_appends_per_s, of: 'local O_APPEND + fdatasync' }],
  },
  {
    name: 'metadata',
    args: [[], ['1000', '8']],
    rows: (r) => [{ figure: `empty-file creates, ${r.clients} clients, durable on both masters (/s)`, ofs: r.creates_per_s_durable_on_both_masters, baseline: r.creates_per_s_active_only, of: 'same, no standby' }],
  },
  {
    name: 'failover',
    args: [['10'], ['3']],
    rows: (r) => [{ figure: 'failover: kill -9 of the active master → first write (median ms)', ofs: r.kill_to_first_write_ms.median, baseline: r.zookeeper_session_timeout_ms, of: 'ZooKeeper session timeout' }],
  },
  {
    name: 'rereplication',
    args: [['1'], ['0.25']],
    rows: (r) => [{ figure: 're-replication after losing 1 of 5 chunkservers (MiB/s)', ofs: r.MiB_per_s, baseline: Math.round((r.lost_replica_bytes / 2 ** 20 / r.local_copy_seconds) * 10) / 10, of: 'local copy + fdatasync' }],
  },
];

interface Row {
  figure: string;
  ofs: number;
  baseline: number;
  of: string;
}

const run = promisify(execFile);
const results: Record<string, unknown> = {};
const rows: Row[] = [];
for (const bench of BENCHES) {
  const script = fileURLToPath(new URL(`./${bench.name}.js`, import.meta.url));
  const args = bench.args[quick ? 1 : 0];
  process.stderr.write(`bench: ${bench.name} ${args.join(' ')}\n`);
  const { stdout } = await run(process.execPath, [script, ...args], { maxBuffer: 16 * 2 ** 20 });
  const result = JSON.parse(stdout);
  results[bench.name] = result;
  rows.push(...bench.rows(result));
}

console.log(JSON.stringify({ quick, machine: { cpus: (await import('node:os')).cpus().length }, results }, null, 2));
const table = [
  '| figure | OFS | baseline, same run | ratio |',
  '| --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.figure} | ${r.ofs} | ${r.baseline} (${r.of}) | ${Math.round((r.ofs / r.baseline) * 100) / 100}× |`),
];
process.stderr.write(`\n${table.join('\n')}\n`);
