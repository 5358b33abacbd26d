/**
 * Client write and read throughput of one file to a 3-replica cluster,
 * against a raw baseline measured in the same run on the same disk: writing
 * the bytes to a local file with fdatasync, and reading them back.
 *   node dist/bench/throughput.js [MiB=200]
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { patternBytes, TestCluster } from '../test/helpers/cluster.js';

const mib = Number(process.argv[2] ?? 200);
const bytes = mib * 2 ** 20;

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const cluster = await TestCluster.start({ masters: 2, chunkSize: 64 * 2 ** 20, heartbeatMs: 1000, scrubIntervalMs: 10_000 });
try {
  const source = join(cluster.dir, 'source.bin');
  const piece = patternBytes(2 ** 20, 42);
  const file = await open(source, 'w');
  for (let i = 0; i < mib; i++) await file.write(piece);
  await file.close();

  const rawCopy = join(cluster.dir, 'raw-copy.bin');
  const rawWrite = await timed(async () => {
    await pipeline(createReadStream(source), createWriteStream(rawCopy));
    const handle = await open(rawCopy, 'r+');
    await handle.datasync();
    await handle.close();
  });
  const rawRead = await timed(() => pipeline(createReadStream(rawCopy), createHash('sha256')));
  await rm(rawCopy);

  const client = await cluster.client();
  const put = await timed(() => pipeline(createReadStream(source), client.createWriteStream('/bench/file')));
  const get = await timed(() => pipeline(client.createReadStream('/bench/file'), createHash('sha256')));
  await client.close();

  const mbps = (seconds: number) => Math.round((bytes / 2 ** 20 / seconds) * 10) / 10;
  console.log(
    JSON.stringify(
      {
        bench: 'throughput',
        mib,
        replication: 3,
        put_MiBps: mbps(put),
        get_MiBps: mbps(get),
        raw_write_fdatasync_MiBps: mbps(rawWrite),
        raw_read_MiBps: mbps(rawRead),
        put_vs_raw_write: Math.round((rawWrite / put) * 100) / 100,
        get_vs_raw_read: Math.round((rawRead / get) * 100) / 100,
      },
      null,
      2,
    ),
  );
} finally {
  await cluster.stop();
}
