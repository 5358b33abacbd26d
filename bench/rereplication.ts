/**
 * Time to re-replicate after one chunkserver of five is lost for good (killed
 * and its disk wiped), with about `GiB` of chunks on it; against a baseline in
 * the same run: copying the same number of bytes on the local disk with
 * fdatasync (one copy per lost replica, as the chunkservers must make).
 *   node dist/bench/rereplication.js [GiB=1]
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { patternBytes, TestCluster, waitFor } from '../test/helpers/cluster.js';

const gib = Number(process.argv[2] ?? 1);
const CHUNK = 64 * 2 ** 20;
const cluster = await TestCluster.start({ chunkservers: 5, masters: 1, chunkSize: CHUNK, heartbeatMs: 500 });
try {
  const client = await cluster.client();
  // With 3 of 5 replicas, one server holds 3/5 of the chunks: write enough that it holds `gib`.
  const chunks = Math.ceil((gib * 2 ** 30) / CHUNK / 0.6);
  const piece = patternBytes(2 ** 20, 3);
  for (let c = 0; c < chunks; c++) {
    await pipeline(
      (async function* () {
        for (let i = 0; i < CHUNK / piece.length; i++) yield piece;
      })(),
      client.createWriteStream(`/bench/rr/f${c}`),
    );
  }
  const ids = await cluster.roleIds('chunkserver');
  const status = await client.status();
  const fullest = [...status.chunkservers].sort((a, b) => b.used - a.used)[0]!;
  const processId = [...ids].find(([, id]) => id === fullest.id)![0];
  const { dir } = await cluster.process(processId);
  await cluster.kill(processId);
  await rm(dir, { recursive: true, force: true });
  const lostAt = Date.now();
  const fsck = async () => (await client.fsck('/bench/rr')).summary;
  await waitFor('the master to notice the loss', async () => (await fsck()).underReplicated > 0, 60_000);
  const detected = (Date.now() - lostAt) / 1000;
  await waitFor('re-replication to finish', async () => {
    const summary = await fsck();
    return summary.healthy === summary.chunks;
  }, 1_800_000);
  const seconds = (Date.now() - lostAt) / 1000;
  await client.close();

  // Baseline: the same bytes copied once on the local disk, durably.
  const source = join(cluster.dir, 'baseline-source');
  const handle = await open(source, 'w');
  for (let i = 0; i < 256; i++) await handle.write(piece);
  await handle.close();
  const started = process.hrtime.bigint();
  for (let copied = 0; copied < fullest.used; copied += 256 * 2 ** 20) {
    const target = join(cluster.dir, 'baseline-copy');
    await pipeline(createReadStream(source), createWriteStream(target));
    const h = await open(target, 'r+');
    await h.datasync();
    await h.close();
  }
  const baseline = Number(process.hrtime.bigint() - started) / 1e9;

  console.log(
    JSON.stringify(
      {
        bench: 'rereplication',
        chunkservers: 5,
        lost_replica_bytes: fullest.used,
        lost_GiB: Math.round((fullest.used / 2 ** 30) * 100) / 100,
        seconds_to_detect: Math.round(detected * 10) / 10,
        seconds_to_healthy: Math.round(seconds * 10) / 10,
        MiB_per_s: Math.round(fullest.used / 2 ** 20 / seconds),
        copying_MiB_per_s: Math.round(fullest.used / 2 ** 20 / (seconds - detected)),
        local_copy_seconds: Math.round(baseline * 10) / 10,
        vs_local_copy: Math.round((baseline / seconds) * 100) / 100,
        note: 'seconds_to_healthy and MiB_per_s include failure detection: 3 missed 500 ms heartbeats or the 4 s ZooKeeper session, whichever ends first',
      },
      null,
      2,
    ),
  );
} finally {
  await cluster.stop();
}
