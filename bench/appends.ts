/**
 * Record appends per second from 8 concurrent appenders to one file
 * (3 replicas, a standby master), against a baseline measured in the same run:
 * the same number of appends of the same records by 8 writers to one local
 * file with O_APPEND and an fdatasync each (what a durable local log costs).
 *   node dist/bench/appends.js [recordsPerWriter=500] [recordBytes=1000]
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TestCluster } from '../test/helpers/cluster.js';
import { waitForNewActiveWithStandby } from '../test/helpers/workload.js';

const perWriter = Number(process.argv[2] ?? 500);
const recordBytes = Number(process.argv[3] ?? 1000);
const writers = 8;
const inFlight = Number(process.argv[4] ?? 1);
const record = Buffer.alloc(recordBytes, 7);

const cluster = await TestCluster.start({ masters: 2, chunkSize: 64 * 2 ** 20 });
try {
  const local = join(cluster.dir, 'local.log');
  const handle = await open(local, 'a');
  let started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = 0; i < perWriter; i++) {
        await handle.write(record);
        await handle.datasync();
      }
    }),
  );
  const localSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  await handle.close();
  await rm(local);

  const clients = await Promise.all(Array.from({ length: writers }, () => cluster.client()));
  await waitForNewActiveWithStandby(clients[0]!, 'none');
  await clients[0]!.write('/bench/log', '');
  started = process.hrtime.bigint();
  await Promise.all(clients.flatMap((client) => Array.from({ length: inFlight }, async () => {
    for (let i = 0; i < perWriter / inFlight; i++) await client.append('/bench/log', record);
  })));
  const ofsSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  await Promise.all(clients.map((c) => c.close()));

  const total = writers * perWriter;
  console.log(
    JSON.stringify(
      {
        bench: 'appends',
        writers,
        appends: total,
        record_bytes: recordBytes,
        ofs_appends_per_s: Math.round(total / ofsSeconds),
        local_fdatasync_appends_per_s: Math.round(total / localSeconds),
        ofs_vs_local: Math.round((localSeconds / ofsSeconds) * 100) / 100,
      },
      null,
      2,
    ),
  );
} finally {
  await cluster.stop();
}
