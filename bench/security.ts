/**
 * What security costs the data path: write and read throughput of one
 * client on three clusters, in the same run, one after the other (each as
 * data-path.ts starts it: 2 masters, 3 chunkservers, replication 3, 64 MiB
 * chunks): one started with --insecure; the default (CURVE and role tokens
 * on every control socket, capability tokens on plain data sockets); and
 * one with --encrypt-data (CURVE on the data sockets too). Each figure is
 * the better of two rounds, so that no cluster is judged by a cold first
 * pass; each ratio is a figure over the insecure one.
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
async function throughput(source: string, sourceCrc: number, mode: { insecure?: boolean; encryptData?: boolean }): Promise<{ write: number; read: number }> {
  const cluster = await TestCluster.start({ masters: 2, chunkSize: 64 * MiB, heartbeatMs: 1000, scrubIntervalMs: 10_000, ...mode });
  try {
    const client = await cluster.client();
    try {
      await waitForNewActiveWithStandby(client, 'none');
      let best = { write: 0, read: 0 };
      for (let i = 0; i < ROUNDS; i++) {
        const path = `/bench/security-${i}`;
        const write = fileMiB / (await seconds(() => pipeline(createReadStream(source, { highWaterMark: PIECE_BYTES }), client.createWriteStream(path))));
        // Timed as data-path.ts times reads (bytes taken, not checked), then checked untimed.
        let bytes = 0;
        const read = fileMiB / (await seconds(async () => {
          for await (const piece of client.createReadStream(path)) bytes += (piece as Buffer).length;
        }));
        let crc = 0;
        for await (const piece of client.createReadStream(path)) crc = crc32c(piece as Buffer, crc);
        if (bytes !== fileMiB * MiB || crc !== sourceCrc) throw new Error(`${path} read back different bytes`);
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

  const insecure = await throughput(source, sourceCrc, { insecure: true });
  const secure = await throughput(source, sourceCrc, {});
  const encrypted = await throughput(source, sourceCrc, { encryptData: true });
  console.log(
    JSON.stringify({
      bench: 'security',
      quick,
      file_MiB: fileMiB,
      write_1c_insecure_MiBps: round(insecure.write),
      read_1c_insecure_MiBps: round(insecure.read),
      write_1c_secure_MiBps: round(secure.write),
      read_1c_secure_MiBps: round(secure.read),
      write_1c_encrypt_data_MiBps: round(encrypted.write),
      read_1c_encrypt_data_MiBps: round(encrypted.read),
      // Each over the same figure with --insecure: 1 costs nothing, 0.25 is four times slower.
      write_secure_ratio: round(secure.write / insecure.write, 2),
      read_secure_ratio: round(secure.read / insecure.read, 2),
      write_encrypt_data_ratio: round(encrypted.write / insecure.write, 2),
      read_encrypt_data_ratio: round(encrypted.read / insecure.read, 2),
    }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
