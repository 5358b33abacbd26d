import test from 'ava';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PUT_MAX_BYTES } from '../../src/transport/protocol.js';
import { clusterFor, patternBytes, sha256, waitFor } from '../helpers/cluster.js';
import { replicaDigests } from '../helpers/replicas.js';

test('a small file is put whole: it reads back, its size and mode show at once, on 3 replicas; it replaces a bigger file, and one byte past the put limit goes the chunkservers’ way', async (t) => {
  const { cluster, client } = await clusterFor(t, { masters: 1 });
  const small = patternBytes(1000, 3);
  await client.write('/s/a', small, { mode: 0o600 });
  const stat = await client.stat('/s/a');
  t.is(stat.size, 1000, 'the size is journaled before the put returns');
  t.is(stat.mode, 0o600);
  t.is(sha256(await client.read('/s/a')), sha256(small));

  // Replacing a bigger file leaves nothing of it behind, in the file or past its new end.
  await client.write('/s/b', patternBytes(300_000, 4));
  const replacement = patternBytes(1024, 5);
  await client.write('/s/b', replacement);
  t.is((await client.stat('/s/b')).size, 1024);
  t.is(sha256(await client.read('/s/b')), sha256(replacement));

  for (const size of [PUT_MAX_BYTES, PUT_MAX_BYTES + 1]) {
    const bytes = patternBytes(size, size);
    await client.write(`/s/edge-${size}`, bytes);
    t.is(sha256(await client.read(`/s/edge-${size}`)), sha256(bytes), `${size} bytes`);
  }

  // A put's bytes go only with a new chunk's first version: never onto a written chunk.
  const { epoch } = (await client.status()).master;
  const rpc = await cluster.rpc('test-master', 'master', () => epoch);
  t.teardown(() => rpc.close());
  const written = (await client.stat('/s/b')).chunks[0]!;
  const holder = (await client.status()).chunkservers.find((c) => c.id === written.replicas[0]!.id)!;
  const put = { chunkId: written.chunkId, version: written.version + 1, put: 3 };
  await t.throwsAsync(rpc.call(holder.address, 'chunk.setVersion', put, { data: [Buffer.from('abc')] }), { code: 'EINVAL', message: /only with a new chunk's first version/ });
  // Every replica still serves the chunk at its version (a replica moved to the refused one would answer ESTALE), byte for byte.
  for (const { digests } of await replicaDigests(await client.stat('/s/b'), cluster)) {
    t.deepEqual([...digests.values()], [sha256(replacement), sha256(replacement), sha256(replacement)], 'the refused put changed nothing');
  }

  const report = await client.fsck('/s');
  for (const chunk of report.files.flatMap((f) => f.chunks)) {
    t.is(chunk.status, 'healthy', chunk.chunkId);
    t.is(new Set(chunk.live).size, 3, `chunk ${chunk.chunkId} on 3 distinct servers`);
  }
});

test('a put while a replica is frozen succeeds on the other two, and the chunk gets its third replica back once it thaws', async (t) => {
  const { cluster, client } = await clusterFor(t, { masters: 1 });
  await client.write('/warm', 'the cluster is up');
  await cluster.kill('chunkserver-2', 'SIGSTOP');
  t.teardown(() => cluster.kill('chunkserver-2', 'SIGCONT').catch(() => undefined));
  const bytes = patternBytes(2000, 7);
  await client.write('/frozen/a', bytes);
  t.is(sha256(await client.read('/frozen/a')), sha256(bytes), 'read from the replicas that took it');
  const [chunk] = (await client.fsck('/frozen')).files[0]!.chunks;
  t.is(chunk!.live.length, 2, 'the frozen replica missed the version: it does not count');
  // Placed on all three (not retried on the two left): the two that took the bytes went up once more, without them.
  const firstVersion = (await client.stat('/warm')).chunks[0]!.version;
  t.is(chunk!.version, firstVersion + 1, 'the replicas that answered went one version past the frozen one');

  await cluster.kill('chunkserver-2', 'SIGCONT');
  await waitFor('fsck to report the chunk at 3 replicas', async () => {
    const [again] = (await client.fsck('/frozen')).files[0]!.chunks;
    return again!.status === 'healthy' && new Set(again!.live).size === 3;
  }, 90_000);
  t.is(sha256(await client.read('/frozen/a')), sha256(bytes));
});

test('a write stream that ends within the put limit is put whole; one that goes past it, in small writes, keeps every byte held before it knew', async (t) => {
  const { client } = await clusterFor(t, { masters: 1 });
  for (const size of [0, 1000, PUT_MAX_BYTES, PUT_MAX_BYTES + 1, 200_000]) {
    const bytes = patternBytes(size, size + 1);
    const pieces = Array.from({ length: Math.ceil(size / 4096) }, (_, i) => bytes.subarray(i * 4096, (i + 1) * 4096));
    await pipeline(Readable.from(pieces), client.createWriteStream(`/streamed/${size}`, { mode: 0o640 }));
    const stat = await client.stat(`/streamed/${size}`);
    t.is(stat.size, size, `${size} bytes: size`);
    t.is(stat.mode, 0o640, `${size} bytes: mode`);
    t.is(sha256(await client.read(`/streamed/${size}`)), sha256(bytes), `${size} bytes read back`);
  }
});

