/**
 * The master's figures (issue 11), each beside a baseline from the same run:
 *
 * - meta_create_per_s: empty-file creates from 64 clients at once, each
 *   durable on both masters; beside one local writer's fdatasyncs/s (what a
 *   journal without group commit could do).
 * - meta_stat_per_s: stats of existing files from 64 clients at once; beside
 *   ZeroMQ request/reply round trips/s from 64 sockets, process to process.
 * - meta_create_per_s_at_<N>_one_dir / _tree: the same creates with N files
 *   already in one directory, or N spread over a tree (100 per directory);
 *   beside the same at 10,000.
 * - master_bytes_per_file: the active master's RSS growth per file from
 *   10,000 files to N in one directory (one chunk per file).
 * - checkpoint_<N>_s: a checkpoint of N files written; restart_<N>_s: kill -9
 *   of the standby → it runs again, loaded from its checkpoint and journal,
 *   attached and in sync again (the active serving meanwhile).
 *
 * Each cluster first runs a quarter as many creates unmeasured, so that no
 * figure counts the JIT warming up. Each namespace is written as a checkpoint
 * into both masters' directories
 * before its cluster starts (building it through the API would take minutes
 * and measure nothing else). N is 1,000,000 (--quick: 100,000). Three
 * clusters, one after another: 10,000 files in each shape, N in one
 * directory, N over a tree.
 *   node dist/bench/metadata.js [--quick]
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dealer } from 'zeromq';
import type { OfsClient } from '../src/client/ofs-client.js';
import { writeCheckpoint } from '../src/storage/checkpoint.js';
import { TestCluster, waitFor } from '../test/helpers/cluster.js';
import { seedDir, seedPieces, type Shape } from '../test/helpers/seed-namespace.js';
import { waitForNewActiveWithStandby } from '../test/helpers/workload.js';

const quick = process.argv.includes('--quick');
const LARGE = quick ? 100_000 : 1_000_000;
const SMALL = 10_000;
const CLIENTS = 64;
/** Operations per measured figure. */
const OPS = quick ? 4_000 : 20_000;

const round = (n: number, places = 0) => Math.round(n * 10 ** places) / 10 ** places;

/** Runs `op` `perClient` times on each client, all clients at once; returns operations per second. */
async function rate(clients: OfsClient[], total: number, op: (client: OfsClient, c: number, i: number) => Promise<unknown>): Promise<number> {
  const perClient = Math.ceil(total / clients.length);
  const started = performance.now();
  await Promise.all(clients.map(async (client, c) => {
    for (let i = 0; i < perClient; i++) await op(client, c, i);
  }));
  return (perClient * clients.length) / ((performance.now() - started) / 1000);
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** The active master's process and the standby's, by their ids in cluster.json. */
async function masters(cluster: TestCluster, client: OfsClient): Promise<{ active: string; standby: string }> {
  const status = await client.status();
  const ids = await cluster.roleIds('master');
  const byRole = [...ids].find(([, roleId]) => roleId === status.master.id)!;
  const other = [...ids].find(([, roleId]) => roleId !== status.master.id)!;
  return { active: byRole[0], standby: other[0] };
}

interface ClusterFigures {
  one_dir?: number;
  tree?: number;
  rss: number;
  create?: number;
  stat?: number;
  checkpoint_s?: number;
  restart_s?: number;
}

/** A cluster seeded with `files` files in each of `shapes`: create rates in each, the active master's RSS, and what `extra` asks. */
async function measure(files: number, shapes: Shape[], extra: 'create-and-stat' | 'checkpoint-and-restart' | 'none'): Promise<ClusterFigures> {
  const cluster = await TestCluster.start({
    masters: 2,
    heartbeatMs: 1000,
    scrubIntervalMs: 60_000,
    // Both masters start from the same checkpoint: whichever is elected serves it, the other attaches.
    seed: async (dir) => {
      for (const master of ['master-0', 'master-1']) await writeCheckpoint(join(dir, master), 1, seedPieces(files, shapes));
    },
  });
  try {
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => cluster.client()));
    const [client] = clients as [OfsClient];
    await waitForNewActiveWithStandby(client, 'none', 300_000);
    const { active, standby } = await masters(cluster, client);
    const figures: ClusterFigures = { rss: await rssBytes((await cluster.process(active)).pid) };
    // Not measured: the first thousands of calls of fresh processes run before the JIT has compiled their paths,
    // and the first figure taken would count that (it ran at a third of the next one's rate).
    await rate(clients, OPS / 4, (c, n, i) => c.write(`/warm-up/n${n}-${i}`, ''));
    if (shapes.includes('one-dir')) figures.one_dir = await rate(clients, OPS, (c, n, i) => c.write(`/big/n${n}-${i}`, ''));
    if (shapes.includes('tree')) {
      const dirs = files / 100;
      figures.tree = await rate(clients, OPS, (c, n, i) => c.write(`${seedDir((n * 7919 + i * 104_729) % dirs)}/n${n}-${i}`, ''));
    }
    if (extra === 'create-and-stat') {
      figures.create = await rate(clients, OPS, (c, n, i) => c.write(`/meta/c${n}/f${i}`, ''));
      const perClient = Math.ceil(OPS / CLIENTS);
      figures.stat = await rate(clients, OPS * 2, (c, n, i) => c.stat(`/meta/c${n}/f${(i * 7) % perClient}`));
    }
    if (extra === 'checkpoint-and-restart') {
      // A checkpoint is the operator's to ask for.
      const operator = await cluster.client('operator');
      const started = performance.now();
      await operator.checkpoint();
      figures.checkpoint_s = round((performance.now() - started) / 1000, 2);
      await operator.close();
      // In sync again: the active logs it when the restarted standby holds every event (its old attachment would still say so now).
      const inSync = () => cluster.logLines(active, /"standby in sync"/);
      // The first attach's line may reach the log after the status that said so.
      await waitFor('the first attach logged', async () => (await inSync()) >= 1);
      const before = await inSync();
      await cluster.kill(standby);
      const killedAt = performance.now();
      await waitFor('the restarted standby in sync', async () => (await inSync()) > before, 300_000);
      figures.restart_s = round((performance.now() - killedAt) / 1000, 2);
    }
    await Promise.all(clients.map((c) => c.close()));
    return figures;
  } finally {
    await cluster.stop();
  }
}

/** One local writer appending 200-byte records, each followed by fdatasync, for `seconds`. */
async function rawFdatasyncPerSecond(seconds: number): Promise<number> {
  const dir = join(tmpdir(), `ofs-bench-fsync-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const file = await open(join(dir, 'journal'), 'a');
  const record = Buffer.alloc(200, 1);
  let count = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    await file.write(record);
    await file.datasync();
    count++;
  }
  await file.close();
  await rm(dir, { recursive: true, force: true });
  return count / seconds;
}

/** ZeroMQ round trips from 64 DEALER sockets at once to a ROUTER in another process (bench/zmq-sink.ts answers an empty message). */
async function rawZmqRoundTripsPerSecond(total: number): Promise<number> {
  const sink = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'zmq-sink.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const endpoint = await new Promise<string>((resolve) => sink.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    const dealers = Array.from({ length: CLIENTS }, () => {
      const dealer = new Dealer();
      dealer.connect(endpoint);
      return dealer;
    });
    const perDealer = Math.ceil(total / CLIENTS);
    const started = performance.now();
    await Promise.all(dealers.map(async (dealer) => {
      for (let i = 0; i < perDealer; i++) {
        await dealer.send(Buffer.alloc(0));
        await dealer.receive();
      }
    }));
    const perSecond = (perDealer * CLIENTS) / ((performance.now() - started) / 1000);
    for (const dealer of dealers) dealer.close();
    return perSecond;
  } finally {
    sink.kill();
  }
}

const small = await measure(SMALL, ['one-dir', 'tree'], 'create-and-stat');
const largeOneDir = await measure(LARGE, ['one-dir'], 'checkpoint-and-restart');
const largeTree = await measure(LARGE, ['tree'], 'none');
const at = LARGE >= 1_000_000 ? `${LARGE / 1_000_000}M` : `${LARGE / 1000}k`;
console.log(
  JSON.stringify(
    {
      bench: 'metadata',
      quick,
      clients: CLIENTS,
      operations_per_figure: OPS,
      files_per_shape: LARGE,
      meta_create_per_s: round(small.create!),
      raw_fdatasync_per_s: round(await rawFdatasyncPerSecond(2)),
      meta_stat_per_s: round(small.stat!),
      raw_zmq_roundtrips_per_s: round(await rawZmqRoundTripsPerSecond(OPS * 2)),
      meta_create_per_s_at_10k_one_dir: round(small.one_dir!),
      meta_create_per_s_at_10k_tree: round(small.tree!),
      [`meta_create_per_s_at_${at}_one_dir`]: round(largeOneDir.one_dir!),
      [`meta_create_per_s_at_${at}_tree`]: round(largeTree.tree!),
      // The small cluster held 10,000 files in each shape.
      master_bytes_per_file: round((largeOneDir.rss - small.rss) / (LARGE - 2 * SMALL)),
      [`checkpoint_${at}_s`]: largeOneDir.checkpoint_s,
      [`restart_${at}_s`]: largeOneDir.restart_s,
    },
    null,
    2,
  ),
);
