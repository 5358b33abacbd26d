import test from 'ava';
import type { OfsError } from '../../src/core/errors.js';
import { ChaosWorkload, chaosCluster, chunkBytesOnDisk, killNow, settle, sleep, startChaos, waitChunkserversLive, waitRestarted, withTimeout } from '../helpers/chaos.js';
import { patternBytes } from '../helpers/cluster.js';

const CHUNK = 256 * 1024;
/** Room for 20 chunks per chunkserver: 5 servers and 3 replicas hold about 8 MiB of files. */
const CAPACITY = 20 * CHUNK;
const CHUNKSERVERS = 5;
const REPLICATION = 3;

// Disks fill up. Every chunkserver gets a small capacity and the writers go
// on past it: chunks must be placed only where there is room, a write that
// finds none must fail cleanly (ENOSPC, promptly), no server may hold more
// than its capacity (also after a kill -9 while full), nothing acknowledged
// may be damaged, and deleting files must make room for writes again.
test('chunkservers fill up under writes: writes fail cleanly with ENOSPC, capacity holds, nothing acknowledged is damaged, deleting makes room', async (t) => {
  const run = startChaos(t, { rounds: 1, budgetMs: 90_000 });
  const { cluster, client } = await chaosCluster(t, {
    chunkservers: CHUNKSERVERS,
    masters: 1,
    replication: REPLICATION,
    chunkSize: CHUNK,
    capacity: CAPACITY,
    leaseMs: 3_000,
    gcIntervalMs: 1_000,
  });
  // A short retry budget: a write that cannot succeed should say so in seconds.
  // Four eager writers: near full, chunks get placed on the strength of free space another write is taking.
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), {
    root: '/chaos',
    writers: 4,
    maxWritesPerWriter: 120,
    writePauseMs: [0, 150],
    connect: { retryForMs: 5_000 },
  });
  const schedule = run.rng.fork('faults');

  /** Broken invariants, all reported at the end (an assertion would stop the scenario at the first). */
  const problems: string[] = [];
  const withinCapacity = async (when: string) => {
    for (const [id, bytes] of await chunkBytesOnDisk(cluster)) {
      if (bytes > CAPACITY) problems.push(`${when}: ${id} holds ${bytes} bytes of chunk data, more than its capacity ${CAPACITY}`);
    }
  };
  /** A new file when every chunkserver is full: must fail, with ENOSPC, within seconds. */
  const probeFull = async (when: string) => {
    const started = Date.now();
    const path = `/probe/${when.replace(/\W+/g, '-')}`;
    const err = await withTimeout(client.write(path, patternBytes(300_000, 7)), 60_000, `write of ${path}`).then(
      () => undefined,
      (e: OfsError | Error) => ('code' in e ? e : Object.assign(e, { code: 'no answer' })),
    );
    const ms = Date.now() - started;
    t.log(`${when}: a new 300 kB file ${err ? `failed after ${ms} ms with ${err.code}: ${err.message}` : `was written in ${ms} ms`}`);
    if (err?.code !== 'ENOSPC') problems.push(`${when}: a new file with every chunkserver full should fail with ENOSPC, not ${err ? `${err.code} (${err.message})` : 'succeed'}`);
    if (ms > 30_000) problems.push(`${when}: the failing write took ${ms} ms`);
  };

  // 1. Fill every chunkserver (the "fault" is each disk running out of room), and keep writing for a while once full.
  const full = new Set<string>();
  let allFullAt: number | undefined;
  while (!run.outOfTime()) {
    const status = await client.status().catch(() => undefined);
    for (const s of status?.chunkservers ?? []) {
      if (s.free < CHUNK && !full.has(s.id)) {
        full.add(s.id);
        run.faults.record('disk-full', s.id, `used ${s.used} of ${s.capacity}`);
      }
    }
    if (full.size === CHUNKSERVERS) allFullAt ??= Date.now();
    if (allFullAt !== undefined && Date.now() - allFullAt > 10_000 && workload.writeFailures.length >= 3) break;
    await sleep(500);
  }
  t.log(`${full.size} of ${CHUNKSERVERS} chunkservers full after ${run.elapsed()}; ${workload.acked.length} writes acknowledged, ${workload.writeFailures.length} failed`);
  if (full.size < CHUNKSERVERS) problems.push(`only ${full.size} of ${CHUNKSERVERS} chunkservers filled up within the budget`);
  await withinCapacity('full');
  await probeFull('full');

  // 2. kill -9 of a full chunkserver: it must come back knowing how full it is.
  const killed = await killNow(cluster, [schedule.pick([...(await cluster.roleIds('chunkserver')).keys()])], run.faults);
  await waitRestarted(cluster, killed);
  await waitChunkserversLive(client, CHUNKSERVERS, 60_000);
  await sleep(2_000); // writers try it again meanwhile
  await withinCapacity('after kill -9 while full');
  await probeFull('after kill -9 while full');

  // 3. Make room: stop writing, delete half the files (and every file whose write failed); GC frees their chunks.
  await workload.stopWriters(30_000);
  const doomed = schedule.sample(workload.live(), Math.ceil(workload.live().length / 2));
  for (const file of doomed) {
    workload.forget(file.path);
    await client.delete(file.path);
  }
  for (const failed of workload.writeFailures) await client.delete(failed.path).catch(() => undefined);
  const deletedAt = Date.now();
  let room: number | undefined;
  for (let attempt = 0; Date.now() - deletedAt < 60_000; attempt++) {
    const ok = await withTimeout(client.write(`/probe/after-delete-${attempt}`, patternBytes(300_000, 8)), 30_000, 'a write after the deletes').then(() => true, () => false);
    if (ok) {
      room = Date.now() - deletedAt;
      break;
    }
    await sleep(1_000);
  }
  t.log(`deleted ${doomed.length} acknowledged and ${workload.writeFailures.length} failed files; a new write ${room === undefined ? 'still FAILED 60 s later' : `succeeded ${room} ms later`}`);
  if (room === undefined) problems.push('deleting half the files did not make room for a new write within 60 s');

  const failures = workload.writeFailures;
  const slowest = Math.max(0, ...failures.map((f) => f.ms));
  t.log(`failed writes: ${failures.length}, the slowest took ${slowest} ms to fail; codes: ${[...new Set(failures.map((f) => f.code))].join(', ') || 'none'}`);
  if (slowest > 30_000) problems.push(`a failing write took ${slowest} ms to give up, with a 5 s retry budget`);
  await withinCapacity('before settling');
  await settle(run, cluster, client, workload, { root: '/chaos', replication: REPLICATION, violations: problems });
});
