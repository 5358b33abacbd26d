/**
 * What security costs the data path: write and read throughput of one
 * client, on a cluster with CURVE and role tokens (the default) and on one
 * started with --insecure, in the same run, one after the other (each
 * cluster as data-path.ts starts it: 2 masters, 3 chunkservers, replication
 * 3, 64 MiB chunks). Each figure is the better of two rounds, so that
 * neither cluster is judged by a cold first pass.
 *   node dist/bench/security.js [--quick]
 */
import { crc32c } from '@node-rs/crc32';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PIECE_BYTES } from '../src/client/file-writer.js';
import { patternBytes, TestCluster } from '../test/helpers/cluster.js';
import { waitForNewActiveWithStandby } from '../test/helpers/workload.js';

const MiB = 2 ** 20;
const quick = process.argv.includes('--quick');
const fileMiB = quick ? 32 : 256;
const ROUNDS = 2;

const seconds = async (run: () => Promise<unknown>): Promise<number> => {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e9;
};
const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;

/** The better write and read MiB/s of ROUNDS rounds on a new cluster; the bytes read are checked. */
async function throughput(source: string, sourceCrc: number, insecure: boolean): Promise<{ write: number; read: number }> {
  const cluster = await TestCluster.start({ masters: 2, chunkSize: 64 * MiB, heartbeatMs: 1000, scrubIntervalMs: 10_000, insecure });
  try {
    const client = await cluster.client();
    try {
      await waitForNewActiveWithStandby(client, 'none');
      let best = { write: 0, read: 0 };
      for (let i = 0; i < ROUNDS; i++) {
        const path = `/bench/security-${i}`;
        const write = fileMiB / (await seconds(() => pipeline(createReadStream(source, { highWaterMark: PIECE_BYTES }), client.createWriteStream(path))));
        let crc = 0;
        const read = fileMiB / (await seconds(async () => {
          for await (const piece of client.createReadStream(path)) crc = crc32c(piece as Buffer, crc);
        }));
        if (crc !== sourceCrc) throw new Error(`${path} read back different bytes`);
        best = { write: Math.max(best.write, write), read: Math.max(best.read, read) };
        await client.delete(path);
      }
      return best;
    } finally {
      await client.close();
    }
  } finally {
    await cluster.stop();
  }
}

const work = await mkdtemp(join(tmpdir(), 'ofs-bench-security-'));
try {
  const source = join(work, 'source.bin');
  const file = await open(source, 'w');
  const piece = patternBytes(MiB, 42);
  let sourceCrc = 0;
  for (let i = 0; i < fileMiB; i++) {
    piece.writeUInt32LE(i, 0);
    sourceCrc = crc32c(piece, sourceCrc);
    await file.write(piece);
  }
  await file.datasync();
  await file.close();

  const secure = await throughput(source, sourceCrc, false);
  const plain = await throughput(source, sourceCrc, true);
  console.log(
    JSON.stringify({
      bench: 'security',
      quick,
      file_MiB: fileMiB,
      write_1c_curve_MiBps: round(secure.write),
      write_1c_plain_MiBps: round(plain.write),
      read_1c_curve_MiBps: round(secure.read),
      read_1c_plain_MiBps: round(plain.read),
      // How much slower with security on, in percent (negative: faster).
      write_curve_slowdown_pct: round((1 - secure.write / plain.write) * 100),
      read_curve_slowdown_pct: round((1 - secure.read / plain.read) * 100),
    }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
