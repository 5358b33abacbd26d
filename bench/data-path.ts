/**
 * The data path: writes, reads, record appends and small files, each figure
 * beside a raw baseline measured in the same run on this machine. One
 * cluster as `ofs cluster up` starts it (2 masters, 3 chunkservers,
 * replication 3, 64 MiB chunks, the production scrub interval); every write
 * and append is acknowledged only once synced on all three replicas. Bytes
 * read are checked against the bytes written: a timed read takes its bytes
 * as an application would (counting them), and the same file is then read
 * again, untimed, and checked by CRC32C (in the timed read itself, the check
 * took a quarter of the client's main thread, which bounds the read); the big
 * file that `ofs get` writes is checked by SHA-256.
 *   node dist/bench/data-path.js [--quick]
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as readline from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Dealer } from 'zeromq';
import type { OfsClient } from '../src/client/ofs-client.js';
import { PIECE_BYTES } from '../src/client/file-writer.js';
import { syncDirectory } from '../src/storage/durable-file.js';
import { OFS_BIN, patternBytes, TestCluster } from '../test/helpers/cluster.js';
import { Scrape } from '../test/helpers/scrape.js';
import { waitForNewActiveWithStandby } from '../test/helpers/workload.js';

const MiB = 2 ** 20;
const quick = process.argv.includes('--quick');
const size = {
  fileMiB: quick ? 64 : 256,
  /** The file `ofs put` and `ofs get` move while their memory is watched. */
  bigMiB: quick ? 512 : 4096,
  appendsPerClient: quick ? 512 : 2048,
  smallFiles1c: quick ? 200 : 600,
  smallFiles64c: quick ? 1024 : 4096,
  zmqMiB: quick ? 512 : 2048,
  ddMiB: quick ? 512 : 2048,
};
const RECORD_BYTES = 1024;
const APPEND_CLIENTS = 8;
/** Appends each appending client keeps under way, as a logging application does. */
const APPENDS_IN_FLIGHT = 32;
const SMALL_FILE = patternBytes(1024, 9);

const seconds = async (run: () => Promise<unknown>): Promise<number> => {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e9;
};
const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;
const sha256 = async (stream: NodeJS.ReadableStream) => {
  const hash = createHash('sha256');
  await pipeline(stream, hash);
  return hash.digest('hex');
};
/** How many bytes a stream carries: a read whose bytes are only taken. */
const bytesOf = async (stream: AsyncIterable<Buffer>) => {
  let bytes = 0;
  for await (const piece of stream) bytes += piece.length;
  return bytes;
};
/** CRC32C of a stream's bytes. */
const crcOf = async (stream: AsyncIterable<Buffer>) => {
  let crc = 0;
  for await (const piece of stream) crc = crc32c(piece, crc);
  return crc;
};
/** A source file of `mib` MiB: a 1 MiB pattern, each MiB different. */
async function sourceFile(path: string, mib: number): Promise<string> {
  const file = await open(path, 'w');
  const piece = patternBytes(MiB, 42);
  for (let i = 0; i < mib; i++) {
    piece.writeUInt32LE(i, 0);
    await file.write(piece);
  }
  await file.datasync(); // its write-back must not compete with what is measured next
  await file.close();
  return sha256(createReadStream(path));
}

/** Flushes every dirty page on the machine, so that one phase's write-back does not slow the next. */
const settle = () => promisify(execFile)('sync');

/** Runs `work` on `lanes` lanes spread over `clients`, each lane taking the next item until `count` are done. */
async function lanes(clients: OfsClient[], lanesTotal: number, count: number, work: (client: OfsClient, i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanesTotal }, async (_, lane) => {
      const client = clients[lane % clients.length]!;
      for (let i = next++; i < count; i = next++) await work(client, i);
    }),
  );
}

/** The machine's CPU jiffies so far: [busy, all] (idle and iowait are not busy). */
function cpuJiffies(): [number, number] {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return [busy, busy + idle! + iowait!];
}

/**
 * Runs `run`, returning its seconds, how busy every core of the machine was
 * meanwhile (%), and the CPU time that took (ms, all cores, every process):
 * a figure taken with the cores near 100% is bounded by them, one well under
 * it by waiting (round trips, syncs).
 */
async function timedWithCpu(run: () => Promise<unknown>): Promise<{ s: number; busyPct: number; cpuMs: number }> {
  const [busy0, all0] = cpuJiffies();
  const s = await seconds(run);
  const [busy1, all1] = cpuJiffies();
  const busy = (busy1 - busy0) / Math.max(1, all1 - all0);
  return { s, busyPct: Math.round(100 * busy), cpuMs: busy * s * 1000 * cpus().length };
}

/** Peak resident memory of processes while `run` runs (polled every 50 ms), in MiB. */
async function peakRss(pids: () => number[], run: () => Promise<unknown>): Promise<number> {
  let peak = 0;
  const poll = setInterval(() => {
    for (const pid of pids()) {
      try {
        const kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
        peak = Math.max(peak, kib / 1024);
      } catch {
        // exited between listing and reading
      }
    }
  }, 50);
  try {
    await run();
  } finally {
    clearInterval(poll);
  }
  return Math.round(peak);
}

/** `ofs ARGS` as its own process; returns its wall time and peak RSS. */
async function ofsTimed(cluster: TestCluster, args: string[]): Promise<{ s: number; rssMiB: number }> {
  let pid = 0;
  let s = 0;
  const rssMiB = await peakRss(
    () => (pid ? [pid] : []),
    async () => {
      s = await seconds(
        () =>
          new Promise<void>((resolve, reject) => {
            const child = spawn(process.execPath, [OFS_BIN, ...args], { env: { ...process.env, OFS_ZK: cluster.zk, ...(cluster.keys && { OFS_KEYS: cluster.keys }) }, stdio: ['ignore', 'ignore', 'pipe'] });
            pid = child.pid!;
            let stderr = '';
            child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
            child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ofs ${args.join(' ')} exited ${code}: ${stderr}`))));
          }),
      );
    },
  );
  return { s, rssMiB };
}

/** Raw ZeroMQ loopback throughput, node → node: 1 MiB messages to a sink in another process. */
async function rawZmqMiBps(mib: number): Promise<number> {
  const sink = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'zmq-sink.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const endpoint = await new Promise<string>((resolve) => sink.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    const dealer = new Dealer({ sendHighWaterMark: 64 });
    dealer.connect(endpoint);
    const message = patternBytes(MiB, 5);
    const s = await seconds(async () => {
      for (let i = 0; i < mib; i++) await dealer.send(message);
      await dealer.send(Buffer.alloc(0));
      const [count] = await dealer.receive();
      if (Number(count!.toString()) !== mib * MiB) throw new Error(`the sink got ${count} bytes, not ${mib * MiB}`);
    });
    dealer.close();
    return mib / s;
  } finally {
    sink.kill();
  }
}

/**
 * What a small file costs its three replicas' disks and kernels alone, with no
 * messages and no masters: three local processes at once, one per replica,
 * each making `count` new chunks' files as a chunkserver does
 * (bench/replica-files.ts), `inFlight` at a time. Returns files/s (all three
 * done) and the machine's CPU time a file (ms, every core, as the OFS figures
 * count it). The files stay until the bench ends: ext4 without a journal,
 * as here, skips inodes freed in the last half minute when it makes a file,
 * and after thousands of deletes that search cost up to 3 ms of CPU a file.
 */
async function replicaFiles(dir: string, count: number, inFlight: number): Promise<{ perS: number; cpuMsPerFile: number }> {
  const worker = join(dirname(fileURLToPath(import.meta.url)), 'replica-files.js');
  const replicas = ['a', 'b', 'c'].map((replica) => spawn(process.execPath, [worker, join(dir, replica), String(count), String(inFlight)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = replicas.map((child) => readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]());
  const nextLine = async (line: AsyncIterator<string>) => {
    const { value, done } = await line.next();
    if (done) throw new Error('a replica-files process ended without its figures');
    return value;
  };
  await Promise.all(lines.map(nextLine)); // "ready"
  let slowest = 0;
  const timed = await timedWithCpu(async () => {
    for (const child of replicas) child.stdin!.end('go\n');
    const results = await Promise.all(lines.map(async (line) => JSON.parse(await nextLine(line)) as { seconds: number }));
    slowest = Math.max(...results.map((r) => r.seconds));
  });
  return { perS: Math.round(count / slowest), cpuMsPerFile: round(timed.cpuMs / count, 2) };
}

const work = await mkdtemp(join(tmpdir(), 'ofs-bench-'));
const cluster = await TestCluster.start({ masters: 2, chunkSize: 64 * MiB, heartbeatMs: 1000, scrubIntervalMs: 10_000 });
const chunkservers = async () => (await cluster.file()).processes.filter((p) => p.role === 'chunkserver');
const chunkserverPids = async () => (await chunkservers()).map((p) => p.pid);
/** The full (mark-compact) collections the chunkservers have run so far, all together, from their /metrics. */
const chunkserverFullCollections = async () =>
  (
    await Promise.all(
      (await chunkservers()).map((p) => {
        if (p.httpPort === undefined) throw new Error(`${p.id} has no httpPort in cluster.json`);
        return Scrape.of(p.httpPort);
      }),
    )
  ).reduce((n, scrape) => n + scrape.sum('nodejs_gc_duration_seconds_count', { kind: 'major' }), 0);
const result: Record<string, number | string | boolean> = { quick };
try {
  const clients = await Promise.all(Array.from({ length: APPEND_CLIENTS }, () => cluster.client()));
  const [client] = clients as [OfsClient];
  await waitForNewActiveWithStandby(client, 'none');

  // Baselines: the disk, and ZeroMQ between two processes.
  const source = join(work, 'source.bin');
  await sourceFile(source, size.fileMiB);
  const sourceCrc = await crcOf(createReadStream(source));
  // Enough bytes to pass the pages the kernel freed lately: writes reuse those at GB/s, while memory this VM's
  // host has taken back costs far more to write for the first time (README, "Writes").
  const ddSeconds = await seconds(() =>
    promisify(execFile)('dd', ['if=/dev/zero', `of=${join(work, 'dd.bin')}`, 'bs=1M', `count=${size.ddMiB}`, 'conv=fdatasync', 'status=none']),
  );
  await rm(join(work, 'dd.bin'));
  result.raw_disk_write_MiBps = round(size.ddMiB / ddSeconds);
  result.raw_disk_write_MiB = size.ddMiB;
  result.raw_zmq_MiBps = round(await rawZmqMiBps(size.zmqMiB));
  result.raw_zmq_MiB = size.zmqMiB;
  result.file_MiB = size.fileMiB;

  // One client, then four at once (each its own file), then eight (chunkserver memory watched).
  const pieceStream = () => createReadStream(source, { highWaterMark: PIECE_BYTES });
  const collectionsBefore = await chunkserverFullCollections();
  const write1 = await timedWithCpu(() => pipeline(pieceStream(), client.createWriteStream('/bench/one')));
  result.write_1c_MiBps = round(size.fileMiB / write1.s);
  result.write_1c_chunkserver_full_gcs_per_GiB = round(((await chunkserverFullCollections()) - collectionsBefore) / (await chunkservers()).length / (size.fileMiB / 1024));
  result.write_1c_cpu_busy_pct = write1.busyPct;
  // The one-client read moves as many bytes as the ZeroMQ baseline sends (the file read over and over),
  // so that warming up weighs in it no more than in the baseline: a process's first read runs slower
  // than the reads after it (README, "Reads"). That first read is a figure of its own.
  const readOnce = async () => {
    const read = await bytesOf(client.createReadStream('/bench/one'));
    if (read !== size.fileMiB * MiB) throw new Error(`/bench/one read back ${read} bytes, not ${size.fileMiB * MiB}`);
  };
  const readRounds = Math.max(1, Math.round(size.zmqMiB / size.fileMiB));
  let firstReadSeconds = 0;
  const read1 = await timedWithCpu(async () => {
    firstReadSeconds = await seconds(readOnce);
    for (let i = 1; i < readRounds; i++) await readOnce();
  });
  const crc = await crcOf(client.createReadStream('/bench/one'));
  result.read_1c_MiBps = round((readRounds * size.fileMiB) / read1.s);
  result.read_1c_MiB = readRounds * size.fileMiB;
  result.read_1c_first_MiBps = round(size.fileMiB / firstReadSeconds);
  result.read_1c_cpu_busy_pct = read1.busyPct;
  if (crc !== sourceCrc) throw new Error('/bench/one read back different bytes');
  const four = clients.slice(0, 4);
  await settle();
  const write4 = await timedWithCpu(() => Promise.all(four.map((c, i) => pipeline(pieceStream(), c.createWriteStream(`/bench/four-${i}`)))));
  result.write_4c_MiBps = round((4 * size.fileMiB) / write4.s);
  result.write_4c_cpu_busy_pct = write4.busyPct;
  let reads: number[] = [];
  const readFour = async () => (reads = await Promise.all(four.map((c, i) => bytesOf(c.createReadStream(`/bench/four-${i}`)))));
  result.read_4c_MiBps = round((4 * size.fileMiB) / (await seconds(readFour)));
  if (reads.some((n) => n !== size.fileMiB * MiB)) throw new Error(`four clients read back ${reads.join(', ')} bytes, not ${size.fileMiB * MiB} each`);
  const crcs = await Promise.all(four.map((c, i) => crcOf(c.createReadStream(`/bench/four-${i}`))));
  if (crcs.some((c) => c !== sourceCrc)) throw new Error('a file written by four clients read back different bytes');
  await settle();
  let eightSeconds = 0;
  const csPids = await chunkserverPids();
  result.chunkserver_peak_rss_MiB_8_writers = await peakRss(
    () => csPids,
    async () => (eightSeconds = await seconds(() => Promise.all(clients.map((c, i) => pipeline(pieceStream(), c.createWriteStream(`/bench/eight-${i}`)))))),
  );
  result.write_8c_MiBps = round((8 * size.fileMiB) / eightSeconds);
  await client.delete('/bench', { recursive: true });

  // Record appends: 8 clients, 1 KiB records, to one file; the baseline is 8 local writers with O_APPEND + fdatasync each.
  await settle();
  const record = patternBytes(RECORD_BYTES, 3);
  const local = await open(join(work, 'local.log'), 'a');
  const localSeconds = await seconds(() =>
    Promise.all(
      Array.from({ length: APPEND_CLIENTS }, async () => {
        for (let i = 0; i < size.appendsPerClient; i++) {
          await local.write(record);
          await local.datasync();
        }
      }),
    ),
  );
  await local.close();
  const appends = APPEND_CLIENTS * size.appendsPerClient;
  result.raw_append_fdatasync_8w_per_s = Math.round(appends / localSeconds);
  await client.append('/appends/log', record); // creates it
  result.append_8c_per_s = Math.round(appends / (await seconds(() => lanes(clients, APPEND_CLIENTS * APPENDS_IN_FLIGHT, appends, (c) => c.append('/appends/log', record)))));
  result.append_8c_one_in_flight_per_s = Math.round(appends / 4 / (await seconds(() => lanes(clients, APPEND_CLIENTS, appends / 4, (c) => c.append('/appends/log', record)))));
  result.appends_in_flight_per_client = APPENDS_IN_FLIGHT;

  // Small files: 1 KiB each, durable. The baseline: a local file written, fsynced, and its directory fsynced.
  await settle();
  const smallDir = join(work, 'small');
  await mkdir(smallDir);
  const localSmall = async (i: number) => {
    const file = await open(join(smallDir, `f${i}`), 'w');
    await file.write(SMALL_FILE);
    await file.sync();
    await file.close();
    await syncDirectory(smallDir);
  };
  result.raw_small_files_1w_per_s = Math.round(size.smallFiles1c / (await seconds(async () => {
    for (let i = 0; i < size.smallFiles1c; i++) await localSmall(i);
  })));
  const replicas1 = await replicaFiles(join(work, 'replicas-1'), size.smallFiles1c, 1);
  result.raw_small_files_3_replicas_1_in_flight_per_s = replicas1.perS;
  const replicas64 = await replicaFiles(join(work, 'replicas-64'), size.smallFiles64c, 64);
  result.raw_small_files_3_replicas_64_in_flight_per_s = replicas64.perS;
  result.raw_small_files_3_replicas_64_in_flight_cpu_ms_per_file = replicas64.cpuMsPerFile;
  // What one file's sequence is made of, beside it: a master request journaled on both masters (a mkdir).
  await client.mkdir('/small/rounds', { parents: true });
  const journalRounds = 100;
  result.master_journal_round_ms = round((1000 * (await seconds(async () => {
    for (let i = 0; i < journalRounds; i++) await client.mkdir(`/small/rounds/d${i}`);
  }))) / journalRounds, 2);
  // The same files through GFS's three calls (create with lease, commit, extend), as before puts: a write that
  // may not replace goes that way.
  result.small_files_1c_three_calls_per_s = Math.round(size.smallFiles1c / (await seconds(async () => {
    for (let i = 0; i < size.smallFiles1c; i++) await client.write(`/small/three/f${i}`, SMALL_FILE, { overwrite: false });
  })));
  const small1 = await timedWithCpu(async () => {
    for (let i = 0; i < size.smallFiles1c; i++) await client.write(`/small/one/f${i}`, SMALL_FILE);
  });
  result.small_files_1c_per_s = Math.round(size.smallFiles1c / small1.s);
  result.small_files_1c_cpu_busy_pct = small1.busyPct;
  result.small_files_1c_cpu_ms_per_file = round(small1.cpuMs / size.smallFiles1c, 2);
  const small64 = await timedWithCpu(() => lanes(clients, 64, size.smallFiles64c, (c, i) => c.write(`/small/many/f${i}`, SMALL_FILE)));
  result.small_files_64c_per_s = Math.round(size.smallFiles64c / small64.s);
  result.small_files_64c_cpu_busy_pct = small64.busyPct;
  result.small_files_64c_cpu_ms_per_file = round(small64.cpuMs / size.smallFiles64c, 2);
  result.cpu_cores = cpus().length;
  if (!(await client.read('/small/many/f7')).equals(SMALL_FILE)) throw new Error('a small file read back different bytes');

  // `ofs put` and `ofs get` of a big file, as their own processes, with their memory watched; then the API reads it too.
  const big = join(work, 'big.bin');
  const bigDigest = await sourceFile(big, size.bigMiB);
  await settle();
  // What every CLI call pays before its work: `ofs stat /` against a bare Node start, the better of three each.
  let cliStat = Infinity;
  let nodeStart = Infinity;
  for (let i = 0; i < 3; i++) {
    cliStat = Math.min(cliStat, (await ofsTimed(cluster, ['stat', '/'])).s);
    nodeStart = Math.min(nodeStart, await seconds(() => promisify(execFile)(process.execPath, ['-e', '0'])));
  }
  result.raw_node_start_ms = Math.round(nodeStart * 1000);
  result.cli_stat_ms = Math.round(cliStat * 1000);
  const put = await ofsTimed(cluster, ['put', big, '/big']);
  // `ofs get`, and the same job through the API (the file read into a local file), three times each
  // in turn, the better of each kept: on this VM, writing the local file runs at one of two speeds
  // for either (in probes of 1 GiB, 210-330 MiB/s or 430-750, holding for several runs and then
  // changing over: page-cache memory the host has taken back costs far more to write than memory just
  // freed, README "Writes"), and which run gets which would otherwise decide the comparison.
  const got = join(work, 'big-got.bin');
  let get = { s: Infinity, rssMiB: 0 };
  let apiSeconds = Infinity;
  for (let round = 0; round < 3; round++) {
    apiSeconds = Math.min(apiSeconds, await seconds(() => pipeline(client.createReadStream('/big'), createWriteStream(got))));
    if (round === 0 && (await sha256(createReadStream(got))) !== bigDigest) throw new Error('the API read /big back different');
    await rm(got);
    const cli = await ofsTimed(cluster, ['get', '/big', got]);
    if (round === 0 && (await sha256(createReadStream(got))) !== bigDigest) throw new Error('ofs get wrote different bytes than ofs put read');
    await rm(got);
    get = { s: Math.min(get.s, cli.s), rssMiB: Math.max(get.rssMiB, cli.rssMiB) };
  }
  result.big_file_MiB = size.bigMiB;
  result.put_cli_MiBps = round(size.bigMiB / put.s);
  result.get_cli_MiBps = round(size.bigMiB / get.s);
  result.get_api_to_file_MiBps = round(size.bigMiB / apiSeconds);
  result.put_cli_peak_rss_MiB = put.rssMiB;
  result.get_cli_peak_rss_MiB = get.rssMiB;
  await Promise.all(clients.map((c) => c.close()));
} finally {
  await cluster.stop();
  await rm(work, { recursive: true, force: true });
}
console.log(JSON.stringify({ bench: 'data-path', ...result }, null, 2));
