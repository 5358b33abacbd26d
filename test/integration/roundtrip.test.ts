import test from 'ava';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import type { MasterLink } from '../../src/client/master-link.js';
import { firstVersionFloor } from '../../src/core/chunk-id.js';
import { LOCATE_CHUNKS_MAX } from '../../src/core/master-queries.js';
import type { OfsClient } from '../../src/client/ofs-client.js';
import { patternBytes, sha256, TestCluster, waitFor } from '../helpers/cluster.js';

const CHUNK = 256 * 1024;
let cluster: TestCluster;
let client: OfsClient;

test.before(async () => {
  cluster = await TestCluster.start({ chunkSize: CHUNK });
  client = await cluster.client();
});

test.after.always(async () => {
  await client?.close();
  await cluster?.stop();
});

const sizes: [string, number][] = [
  ['empty', 0],
  ['1 byte', 1],
  ['exactly one chunk', CHUNK],
  ['one chunk + 1', CHUNK + 1],
  ['several chunks and a tail', 5 * CHUNK + 12345],
];

for (const [name, size] of sizes) {
  test(`write/read round trip: ${name} (${size} bytes) stored as 3 replicas`, async (t) => {
    const data = patternBytes(size, size + 7);
    const path = `/roundtrip/${name.replace(/\W+/g, '-')}`;
    await client.write(path, data);

    const back = await client.read(path);
    t.is(sha256(back), sha256(data));

    const stat = await client.stat(path);
    t.is(stat.size, size);
    t.is(stat.chunks.length, Math.ceil(size / CHUNK));
    const dirs = await cluster.chunkserverDirs();
    for (const chunk of stat.chunks) {
      const holders = new Set(chunk.replicas.map((r) => r.id));
      t.is(holders.size, 3, `chunk ${chunk.index} should be on 3 distinct chunkservers`);
      for (const id of holders) {
        // The replica is a real file on that chunkserver's disk.
        await t.notThrowsAsync(access(join(dirs.get(id)!, 'chunks', `${chunk.chunkId}.data`)));
      }
    }
  });
}

test('ranges that cross chunk edges read back exactly', async (t) => {
  const data = patternBytes(3 * CHUNK + 100, 99);
  await client.write('/roundtrip/ranges', data);
  const ranges: [number, number][] = [
    [0, 1],
    [CHUNK - 1, 2],
    [CHUNK - 10, CHUNK + 20],
    [2 * CHUNK, CHUNK + 100],
    [3 * CHUNK + 99, 1],
    [3 * CHUNK + 99, 50], // runs past the end: clamped
    [10 * CHUNK, 5], // starts past the end: empty
  ];
  for (const [offset, length] of ranges) {
    const got = await client.read('/roundtrip/ranges', { offset, length });
    t.is(sha256(got), sha256(data.subarray(offset, offset + length)), `range ${offset}+${length}`);
  }
});

test('streams: a multi-chunk file through createWriteStream and createReadStream', async (t) => {
  const data = patternBytes(7 * CHUNK + 333, 5);
  // Feed it in odd-sized pieces so writes straddle pieces and chunk edges.
  const pieces = function* () {
    for (let at = 0; at < data.length; at += 100_003) yield data.subarray(at, at + 100_003);
  };
  await pipeline(Readable.from(pieces()), client.createWriteStream('/roundtrip/streamed'));
  const hash = createHash('sha256');
  await pipeline(client.createReadStream('/roundtrip/streamed'), hash);
  t.is(hash.digest('hex'), sha256(data));
});

test('a file of more chunks than one master reply lists: stat lists them all, and reads across the windows match what was written', async (t) => {
  const chunks = LOCATE_CHUNKS_MAX + 45;
  const data = patternBytes(chunks * CHUNK - 777, 17);
  await pipeline(Readable.from([data]), client.createWriteStream('/roundtrip/many-chunks'));
  const stat = await client.stat('/roundtrip/many-chunks');
  t.is(stat.chunkCount, chunks);
  t.deepEqual(stat.chunks.map((c) => c.index), Array.from({ length: chunks }, (_, i) => i));
  t.true(stat.chunks.every((c) => c.replicas.length === 3 && c.version > 0));
  const hash = createHash('sha256');
  await pipeline(client.createReadStream('/roundtrip/many-chunks'), hash);
  t.is(hash.digest('hex'), sha256(data));
  // From the first window into the second, and one that starts in the second.
  for (const [offset, length] of [[(LOCATE_CHUNKS_MAX - 2) * CHUNK + 5, 5 * CHUNK], [(LOCATE_CHUNKS_MAX + 40) * CHUNK, 10 * CHUNK]] as const) {
    t.is(sha256(await client.read('/roundtrip/many-chunks', { offset, length })), sha256(data.subarray(offset, offset + length)), `range ${offset}+${length}`);
  }
});

test('overwriting a file replaces its content', async (t) => {
  await client.write('/roundtrip/replace', patternBytes(2 * CHUNK, 1));
  const second = patternBytes(CHUNK / 2, 2);
  await client.write('/roundtrip/replace', second);
  t.is(sha256(await client.read('/roundtrip/replace')), sha256(second));
  await t.throwsAsync(client.write('/roundtrip/replace', 'x', { overwrite: false }), { message: /already exists/ });
});

test('a read whose file is replaced under it fails with ESTALE, never mixing the two files', async (t) => {
  const path = '/roundtrip/replaced-while-read';
  const first = await (async () => {
    await client.write(path, patternBytes(64 * CHUNK, 3));
    return (await client.stat(path)).chunks.map((c) => c.chunkId);
  })();
  // 64 chunks: more than the read keeps ahead of its consumer (16 pieces, in flight and buffered).
  const reader = client.createReadStream(path)[Symbol.asyncIterator]();
  t.false((await reader.next()).done, 'the read has begun');
  // Same size, other bytes: only chunk ids tell the two files apart.
  await client.write(path, patternBytes(64 * CHUNK, 4));
  // The old chunks' replicas go (GC through heartbeats), so the pieces not yet read fail and the reader locates the file again.
  const dirs = [...(await cluster.chunkserverDirs()).values()];
  await waitFor('the replaced file\'s chunk files to be deleted', async () => {
    const files = (await Promise.all(dirs.map((d) => readdir(join(d, 'chunks'))))).flat();
    return !first.some((id) => files.includes(`${id}.data`));
  });
  const rest = (async () => {
    for (let piece = await reader.next(); !piece.done; piece = await reader.next());
  })();
  await t.throwsAsync(rest, { code: 'ESTALE', message: `${path} was replaced while it was read` });
});

test('a create that asks for a lease places the first chunk at once: 3 replicas at the first version of the master’s epoch, and the file is made even so', async (t) => {
  const master = (client as unknown as { master: MasterLink }).master;
  const { epoch } = (await client.status()).master;
  const created = await master.call('master.create', { path: '/roundtrip/leased/new', overwrite: true, lease: true });
  const lease = created.lease!;
  t.truthy(lease, 'the reply carries the lease of chunk 0');
  t.is(lease.index, 0);
  t.is(lease.version, firstVersionFloor(epoch) + 1);
  t.is(new Set(lease.replicas.map((r) => r.id)).size, 3);
  t.true(lease.replicas.some((r) => r.id === lease.primary.id), 'the primary is one of the replicas');
  // The master's own record agrees: the chunk, its version and where it is.
  const stat = await client.stat('/roundtrip/leased/new');
  t.is(stat.size, 0);
  t.deepEqual(
    stat.chunks.map((c) => [c.chunkId, c.version, c.replicas.map((r) => r.id).sort()]),
    [[lease.chunkId, lease.version, lease.replicas.map((r) => r.id).sort()]],
  );
  // A refused create places nothing and leaves the file as it was.
  const summary = async (path: string) => {
    const { size, chunks } = await client.stat(path);
    return { size, chunks: chunks.map((c) => [c.chunkId, c.version]) };
  };
  await client.write('/roundtrip/leased/kept', 'kept');
  const before = await summary('/roundtrip/leased/kept');
  await t.throwsAsync(master.call('master.create', { path: '/roundtrip/leased/kept', overwrite: false, lease: true }), { message: /already exists/ });
  t.deepEqual(await summary('/roundtrip/leased/kept'), before);
  t.is((await client.read('/roundtrip/leased/kept')).toString(), 'kept');
});
