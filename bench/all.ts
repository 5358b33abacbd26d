/**
 * `npm run bench`: every benchmark of bench/, one after another (each starts
 * its own cluster and stops it; never two at once on this small machine).
 * Prints one JSON object on stdout whose keys name each figure and its unit,
 * every figure beside its raw baseline from the same run, and on stderr the
 * Markdown table the README shows.
 *   npm run bench [-- --quick]   (--quick: smaller sizes, under 2 minutes)
 */
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const quick = process.argv.includes('--quick');

interface Row {
  figure: string;
  ofs: number;
  baseline: number;
  of: string;
}

/** Each bench, its arguments (full and quick), the figures it adds to the JSON, and its rows of the table. */
const BENCHES: { name: string; args: [string[], string[]]; figures: (r: any) => Record<string, number>; rows: (f: Record<string, number>) => Row[] }[] = [
  {
    name: 'data-path',
    args: [[], ['--quick']],
    figures: ({ bench: _bench, quick: _quick, ...figures }) => figures,
    rows: (f) => [
      { figure: `write, one client, 3 replicas (MiB/s; cores ${f.write_1c_cpu_busy_pct}% busy)`, ofs: f.write_1c_MiBps!, baseline: f.raw_disk_write_MiBps!, of: `dd of ${f.raw_disk_write_MiB} MiB, bs=1M conv=fdatasync` },
      // V8 starts a full collection of its own for every 64 MiB of buffers a process holds beyond what the last one left.
      { figure: 'write, one client: full GCs in each chunkserver per GiB written', ofs: f.write_1c_chunkserver_full_gcs_per_GiB!, baseline: 16, of: 'one per 64 MiB of buffers, V8’s own trigger' },
      { figure: `write, 4 clients at once (MiB/s; cores ${f.write_4c_cpu_busy_pct}% busy)`, ofs: f.write_4c_MiBps!, baseline: f.write_1c_MiBps!, of: 'one client' },
      { figure: `read, one client, ${f.read_1c_MiB} MiB (MiB/s; cores ${f.read_1c_cpu_busy_pct}% busy)`, ofs: f.read_1c_MiBps!, baseline: f.raw_zmq_MiBps!, of: `ZeroMQ, ${f.raw_zmq_MiB} MiB in 1 MiB messages, process to process` },
      { figure: `read, one client: its process's first read, ${f.file_MiB} MiB (MiB/s)`, ofs: f.read_1c_first_MiBps!, baseline: f.raw_zmq_MiBps!, of: 'ZeroMQ, as above' },
      { figure: 'read, 4 clients at once (MiB/s)', ofs: f.read_4c_MiBps!, baseline: f.raw_zmq_MiBps!, of: 'ZeroMQ, as above' },
      { figure: `ofs get of ${f.big_file_MiB} MiB to a file (MiB/s)`, ofs: f.get_cli_MiBps!, baseline: f.get_api_to_file_MiBps!, of: 'the API reading it to a file' },
      { figure: 'ofs stat /, start to exit (ms)', ofs: f.cli_stat_ms!, baseline: f.raw_node_start_ms!, of: 'node -e 0' },
      { figure: `record appends, 8 clients × ${f.appends_in_flight_per_client} in flight, 1 KiB (/s)`, ofs: f.append_8c_per_s!, baseline: f.raw_append_fdatasync_8w_per_s!, of: '8 local writers, O_APPEND + fdatasync' },
      { figure: 'record appends, 8 clients × 1 in flight (/s)', ofs: f.append_8c_one_in_flight_per_s!, baseline: f.raw_append_fdatasync_8w_per_s!, of: 'as above' },
      { figure: `1 KiB files, one client, one after another (/s; cores ${f.small_files_1c_cpu_busy_pct}% busy)`, ofs: f.small_files_1c_per_s!, baseline: f.raw_small_files_1w_per_s!, of: 'local write + fsync + directory fsync' },
      { figure: '1 KiB files, one client, put (/s)', ofs: f.small_files_1c_per_s!, baseline: f.small_files_1c_three_calls_per_s!, of: 'the same as three calls: create with lease, commit, extend' },
      {
        figure: '1 KiB file, one client: its time against master requests journaled on both masters (ms)',
        ofs: Math.round(100_000 / f.small_files_1c_per_s!) / 100,
        baseline: f.master_journal_round_ms!,
        of: 'one such request (a mkdir), one after another',
      },
      {
        figure: '1 KiB files, one client (/s)',
        ofs: f.small_files_1c_per_s!,
        baseline: f.raw_small_files_3_replicas_1_in_flight_per_s!,
        of: "its three replicas' file work alone, one file at a time: 3 local processes, each making a chunk's two files, fdatasynced, and fsyncing the directory",
      },
      { figure: `1 KiB files, 64 at once (/s; cores ${f.small_files_64c_cpu_busy_pct}% busy)`, ofs: f.small_files_64c_per_s!, baseline: f.raw_small_files_3_replicas_64_in_flight_per_s!, of: "the replicas' file work alone, as above, 64 files at a time" },
      // What bounds the small-file figures: the machine's CPU time each file takes, against what the cores could give one at the goal's rate.
      {
        figure: '1 KiB files, one client: CPU time a file, every process (ms)',
        ofs: f.small_files_1c_cpu_ms_per_file!,
        baseline: Math.round((f.cpu_cores! * 100_000) / 300) / 100,
        of: `all ${f.cpu_cores} cores' time at the goal of 300 files/s`,
      },
      {
        figure: '1 KiB files, 64 at once: CPU time a file, every process (ms)',
        ofs: f.small_files_64c_cpu_ms_per_file!,
        baseline: Math.round((f.cpu_cores! * 100_000) / 2000) / 100,
        of: `all ${f.cpu_cores} cores' time at the goal of 2,000 files/s`,
      },
      {
        figure: '1 KiB files, 64 at once: CPU time a file, every process (ms)',
        ofs: f.small_files_64c_cpu_ms_per_file!,
        baseline: f.raw_small_files_3_replicas_64_in_flight_cpu_ms_per_file!,
        of: "the replicas' file work alone, 64 files at a time",
      },
      { figure: 'chunkserver peak RSS, 8 clients writing at once (MiB)', ofs: f.chunkserver_peak_rss_MiB_8_writers!, baseline: 128, of: 'the bytes 8 writers may have in flight, 8 × 16 MiB' },
      { figure: `client peak RSS, ofs put of ${f.big_file_MiB} MiB (MiB)`, ofs: f.put_cli_peak_rss_MiB!, baseline: 256, of: 'the goal' },
      { figure: `client peak RSS, ofs get of ${f.big_file_MiB} MiB (MiB)`, ofs: f.get_cli_peak_rss_MiB!, baseline: 256, of: 'the goal' },
    ],
  },
  {
    name: 'security',
    args: [[], ['--quick']],
    figures: ({ bench: _bench, quick: _quick, file_MiB: _file, ...figures }) => figures,
    rows: (f) => [
      { figure: 'write, one client, secure default: CURVE control, tokens on plain data (MiB/s)', ofs: f.write_1c_secure_MiBps!, baseline: f.write_1c_insecure_MiBps!, of: 'the same on a cluster started with --insecure' },
      { figure: 'read, one client, secure default (MiB/s)', ofs: f.read_1c_secure_MiBps!, baseline: f.read_1c_insecure_MiBps!, of: 'as above' },
      { figure: 'write, one client, --encrypt-data: CURVE on data too (MiB/s)', ofs: f.write_1c_encrypt_data_MiBps!, baseline: f.write_1c_insecure_MiBps!, of: 'as above' },
      { figure: 'read, one client, --encrypt-data (MiB/s)', ofs: f.read_1c_encrypt_data_MiBps!, baseline: f.read_1c_insecure_MiBps!, of: 'as above' },
    ],
  },
  {
    name: 'metadata',
    args: [[], ['--quick']],
    figures: ({ bench: _bench, quick: _quick, clients: _clients, operations_per_figure: _ops, files_per_shape: _files, ...figures }) => figures,
    rows: (f) => {
      const at = Object.keys(f).find((k) => /^restart_.*_s$/.test(k))!.slice('restart_'.length, -'_s'.length);
      return [
        { figure: 'empty-file creates, 64 clients, durable on both masters (/s)', ofs: f.meta_create_per_s!, baseline: f.raw_fdatasync_per_s!, of: 'one local writer, 200 B + fdatasync each' },
        { figure: 'stat, 64 clients (/s)', ofs: f.meta_stat_per_s!, baseline: f.raw_zmq_roundtrips_per_s!, of: 'ZeroMQ round trips, 64 sockets, process to process' },
        { figure: `creates with ${at} files in one directory (/s)`, ofs: f[`meta_create_per_s_at_${at}_one_dir`]!, baseline: f.meta_create_per_s_at_10k_one_dir!, of: 'same at 10k' },
        { figure: `creates with ${at} files over a tree (/s)`, ofs: f[`meta_create_per_s_at_${at}_tree`]!, baseline: f.meta_create_per_s_at_10k_tree!, of: 'same at 10k' },
        { figure: 'master memory per file, one chunk each (bytes)', ofs: f.master_bytes_per_file!, baseline: 500, of: 'the goal' },
        { figure: `checkpoint of ${at} files written (s)`, ofs: f[`checkpoint_${at}_s`]!, baseline: 10, of: 'the goal' },
        { figure: `restart of a standby master with ${at} files, kill -9 to in sync (s)`, ofs: f[`restart_${at}_s`]!, baseline: 10, of: 'the goal' },
      ];
    },
  },
  {
    // In process, no cluster: the replica locations a real master holds beside what the metadata bench measured.
    name: 'cluster-view',
    args: [[], ['200000']],
    figures: (r) => ({ replica_location_bytes_per_chunk: r.bytes_per_chunk, replica_location_holders_calls_ms: r.holders_calls_ms }),
    rows: () => [],
  },
  {
    // In process, no cluster: what a file of many chunks costs the master per change, and the snapshot pieces it makes.
    name: 'long-file',
    args: [['60000'], ['60000']],
    figures: (r) => ({
      long_file_chunks: r.chunks,
      long_file_allocate_all_ms: r.allocate_all_at_once_ms,
      long_file_decide_all_ms: r.decide_all_at_once_ms,
      long_file_version_bump_ms: r.version_bump_ms,
      long_file_allocate_one_more_ms: r.allocate_one_more_ms,
      long_file_copy_chunk_list_ms: r.copy_chunk_list_ms,
      long_file_largest_snapshot_piece_bytes: r.largest_snapshot_piece_bytes,
      message_header_limit_bytes: r.message_header_limit_bytes,
    }),
    rows: (f) => [
      { figure: `a lease's version bump on a file of ${f.long_file_chunks} chunks (ms)`, ofs: f.long_file_version_bump_ms!, baseline: f.long_file_copy_chunk_list_ms!, of: 'one copy of its chunk list' },
      { figure: `one write ${f.long_file_chunks} chunks past a file's start: its allocations applied (ms)`, ofs: f.long_file_allocate_all_ms!, baseline: f.long_file_decide_all_ms!, of: 'deciding them: the events made' },
      { figure: `largest snapshot piece with a file of ${f.long_file_chunks} chunks (bytes)`, ofs: f.long_file_largest_snapshot_piece_bytes!, baseline: f.message_header_limit_bytes!, of: 'the limit of one message' },
    ],
  },
  {
    name: 'failover',
    args: [['10'], ['3']],
    figures: (r) => ({
      // Median seconds from kill -9 of the active master to the first write acknowledged after it...
      failover_s: seconds(r.kill_to_first_write_ms.median),
      failover_max_s: seconds(r.kill_to_first_write_ms.max),
      // ...beside the part ZooKeeper takes in the same kills: the dead master's session expiring.
      failover_zk_detection_s: seconds(r.kill_to_znode_gone_ms.median),
      failover_kill_to_write_median_ms: r.kill_to_first_write_ms.median,
      zk_session_timeout_ms: r.zookeeper_session_timeout_ms,
    }),
    rows: (f) => [
      {
        figure: `failover: kill -9 of the active master → first write (median s; slowest ${f.failover_max_s})`,
        ofs: f.failover_s!,
        baseline: f.failover_zk_detection_s!,
        of: `ZooKeeper noticing: kill → the dead master's znode gone, median; session timeout ${f.zk_session_timeout_ms! / 1000} s`,
      },
    ],
  },
  {
    name: 'rereplication',
    args: [['1'], ['0.25']],
    figures: (r) => ({ rereplication_MiBps: r.MiB_per_s, raw_copy_fdatasync_MiBps: Math.round((r.lost_replica_bytes / 2 ** 20 / r.local_copy_seconds) * 10) / 10 }),
    rows: (f) => [{ figure: 're-replication after losing 1 of 5 chunkservers (MiB/s)', ofs: f.rereplication_MiBps!, baseline: f.raw_copy_fdatasync_MiBps!, of: 'local copy + fdatasync' }],
  },
];

function seconds(ms: number): number {
  return Math.round(ms / 10) / 100;
}

const run = promisify(execFile);
const figures: Record<string, number> = {};
const rows: Row[] = [];
for (const bench of BENCHES) {
  const script = fileURLToPath(new URL(`./${bench.name}.js`, import.meta.url));
  const args = bench.args[quick ? 1 : 0];
  process.stderr.write(`bench: ${bench.name} ${args.join(' ')}\n`);
  const { stdout } = await run(process.execPath, [script, ...args], { maxBuffer: 16 * 2 ** 20 });
  const mine = bench.figures(JSON.parse(stdout));
  Object.assign(figures, mine);
  rows.push(...bench.rows(mine));
}
// A real master holds both: the namespace and chunk table (the metadata bench's master, whose chunks no
// chunkserver holds) and each chunk's 3 replica locations (the cluster-view bench).
figures.master_bytes_per_file_with_locations = Math.round(figures.master_bytes_per_file! + figures.replica_location_bytes_per_chunk!);
rows.splice(rows.findIndex((r) => r.figure.startsWith('master memory per file')) + 1, 0, {
  figure: 'master memory per file, with its chunk\'s 3 replica locations (bytes)',
  ofs: figures.master_bytes_per_file_with_locations,
  baseline: 500,
  of: 'the goal',
});

console.log(JSON.stringify({ quick, cpus: cpus().length, ...figures }, null, 2));
const table = [
  '| figure | OFS | baseline, same run | ratio |',
  '| --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.figure} | ${r.ofs} | ${r.baseline} (${r.of}) | ${Math.round((r.ofs / r.baseline) * 100) / 100}× |`),
];
process.stderr.write(`\n${table.join('\n')}\n`);
