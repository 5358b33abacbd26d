import test from 'ava';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
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
  const chunks = (await client.stat('/integrity/f')).chunks;
  const dirs = await cluster.chunkserverDirs();
  // One bad replica in each chunk (the scrubber is off: only reads can find them).
  const [asked, read] = chunks.map((chunk) => ({ chunk, victim: chunk.replicas[0]! }));
  await flipByte(dirs.get(asked!.victim.id)!, asked!.chunk.chunkId, 5);
  await flipByte(dirs.get(read!.victim.id)!, read!.chunk.chunkId, 70_000);

  // Asked directly, the first chunk's bad replica refuses: the block fails its checksum.
  const rpc = await cluster.rpc('integrity-test');
  t.teardown(() => rpc.close());
  const { chunkId, version } = asked!.chunk;
  const token = await cluster.token(chunkId, version, 'read');
  await t.throwsAsync(rpc.call(asked!.victim.address, 'chunk.read', { chunkId, version, offset: 0, length: CHUNK, token }), { code: 'ECORRUPT' });
  // Clients read the right bytes whichever replicas they ask. The master lists replicas in random order: read until
  // one read has met the second chunk's bad replica, which it skipped and had reported (no longer served).
  const served = async () => {
    const now = (await client.stat('/integrity/f')).chunks[1]!;
    return now.version === read!.chunk.version && now.replicas.some((r) => r.id === read!.victim.id);
  };
  let reads = 0;
  do {
    reads++;
    t.is(sha256(await client.read('/integrity/f')), sha256(data), `read ${reads}`);
  } while ((await served()) && reads < 100);
  t.false(await served(), `the bad replica is still served after 100 reads: none met it, or it was not reported`);
  t.log(`the bad replica was met and reported within ${reads} reads`);
  // Both bad replicas were reported, and re-replication replaced them.
  await waitFor('the corrupt replicas to be replaced', async () => {
    const { chunks: now } = (await client.fsck('/integrity')).files[0]!;
    // A copy is made under a new version; a victim itself may take the fresh copy.
    return now.every((c, i) => c.status === 'healthy' && c.corrupt.length === 0 && c.version > chunks[i]!.version);
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
