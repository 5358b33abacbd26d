import test from 'ava';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { OfsError } from '../../src/core/errors.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { clusterFor, patternBytes, sha256, waitFor } from '../helpers/cluster.js';

const CHUNK = 256 * 1024;

/** Flips one byte of a chunk file on a chunkserver's disk. */
async function flipByte(dir: string, chunkId: string, offset: number): Promise<void> {
  const file = await open(join(dir, 'chunks', `${chunkId}.data`), 'r+');
  const byte = Buffer.alloc(1);
  await file.read(byte, 0, 1, offset);
  byte[0]! ^= 0xff;
  await file.write(byte, 0, 1, offset);
  await file.close();
}

test('a flipped byte is never returned: reads go to a good replica; the bad one is reported, deleted and copied anew', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, chunkservers: 4, masters: 1, scrubIntervalMs: 0 });
  const data = patternBytes(2 * CHUNK, 77);
  await client.write('/integrity/f', data);
  const chunk = (await client.stat('/integrity/f')).chunks[1]!;
  const dirs = await cluster.chunkserverDirs();
  const victim = chunk.replicas[0]!.id;
  await flipByte(dirs.get(victim)!, chunk.chunkId, 70_000);

  // Every read of every replica order returns the right bytes.
  for (let i = 0; i < 6; i++) t.is(sha256(await client.read('/integrity/f')), sha256(data));
  // The reads above pick replicas at random and may all have missed the bad
  // one: read it there directly, as a client that listed it first would. It
  // never hands out the bad bytes: it fails the checksum (and reports it), or
  // a read above already had it reported and deleted.
  const rpc = new RpcClient('integrity-test');
  t.teardown(() => rpc.close());
  const direct = rpc.call(chunk.replicas[0]!.address, 'chunk.read', { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: CHUNK });
  const refused = await t.throwsAsync(direct);
  t.true(['ECORRUPT', 'ENOENT'].includes((refused as OfsError).code), refused?.message);
  // The corrupt replica was reported when a read hit it, and re-replication replaced it.
  await waitFor('the corrupt replica to be replaced', async () => {
    const report = await client.fsck('/integrity');
    const c = report.files[0]!.chunks[1]!;
    // A copy is made under a new version; the victim itself may take the fresh copy.
    return c.status === 'healthy' && c.corrupt.length === 0 && c.version > chunk.version;
  }, 60_000);
  t.is(sha256(await client.read('/integrity/f')), sha256(data));
});

test('the scrubber finds corruption in data nobody reads', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, chunkservers: 4, masters: 1, scrubIntervalMs: 100 });
  const data = patternBytes(CHUNK, 78);
  await client.write('/scrub/f', data);
  const chunk = (await client.stat('/scrub/f')).chunks[0]!;
  const victim = chunk.replicas[0]!.id;
  await flipByte((await cluster.chunkserverDirs()).get(victim)!, chunk.chunkId, 5);
  await waitFor('the scrubber to report it and re-replication to replace it', async () => {
    const c = (await client.fsck('/scrub')).files[0]!.chunks[0]!;
    return c.status === 'healthy' && c.corrupt.length === 0 && c.version > chunk.version;
  }, 60_000);
  t.is(sha256(await client.read('/scrub/f')), sha256(data));
});
