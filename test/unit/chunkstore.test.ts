import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { OfsError } from '../../src/core/errors.js';
import { BLOCK_SIZE, ChunkStore } from '../../src/storage/chunk-store.js';
import { ChunkFile } from '../../src/storage/chunk-file.js';
import { formatChunkId } from '../../src/core/chunk-id.js';
import { TEST_MAX_CHUNK_SIZE, openAt, pattern, tempDir } from '../helpers/chunk-store.js';
import { collectGarbage } from '../helpers/heap.js';

const B = BLOCK_SIZE;
const MAX = TEST_MAX_CHUNK_SIZE;
const ID = '0123456789abcdef';
const ID2 = 'fedcba9876543210';

async function openStore(t: ExecutionContext, opts: { capacity?: number } = {}): Promise<ChunkStore> {
  return openAt(t, await tempDir(t), { maxChunkSize: MAX, ...opts });
}

function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, code: string, message?: RegExp) {
  const err = await t.throwsAsync(promise, { instanceOf: OfsError });
  t.is((err as OfsError | undefined)?.code, code as OfsError['code']);
  if (message) t.regex(err?.message ?? '', message);
  return err;
}

async function flipByte(file: string, position: number): Promise<void> {
  const fh = await fs.open(file, 'r+');
  try {
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, position);
    one[0] ^= 0x5a;
    await fh.write(one, 0, 1, position);
  } finally {
    await fh.close();
  }
}

for (const size of [0, 1, B - 1, B, B + 1, 3 * B + 123, MAX]) {
  test(`round trip of ${size} bytes, in one write and in odd-sized appends, survives reopen`, async (t) => {
    const dir = await tempDir(t);
    const store = await openAt(t, dir);
    const data = pattern(size, size);
    await store.create(ID, 1);
    t.deepEqual(await store.write(ID, 0, data), { id: ID, version: 1, length: size, syncedLength: 0 });
    t.is(sha256(await store.read(ID, 0, size)), sha256(data));

    await store.create(ID2, 1);
    for (let off = 0, step = 1; off < size; off += step, step = step * 3 + 7) {
      await store.write(ID2, off, data.subarray(off, Math.min(size, off + step)));
    }
    t.is(sha256(await store.read(ID2, 0, size)), sha256(data));
    t.is(store.usedBytes(), 2 * size);

    t.deepEqual(await store.sync(ID), { id: ID, version: 1, length: size, syncedLength: size });
    await store.sync(ID2);
    const reopened = await openAt(t, dir);
    t.deepEqual(reopened.damaged, []);
    t.deepEqual(reopened.get(ID), { id: ID, version: 1, length: size, syncedLength: size });
    t.is(sha256(await reopened.read(ID, 0, size)), sha256(data));
    t.is(sha256(await reopened.read(ID2, 0, size)), sha256(data));
    t.deepEqual(await reopened.verify(ID2), []);
  });
}

test('overwrites inside and across blocks, then every range between block edges reads back right', async (t) => {
  const store = await openStore(t);
  const size = 3 * B + 100;
  const model = pattern(size, 7);
  await store.create(ID, 1);
  await store.write(ID, 0, model);
  const overwrites: [number, number][] = [
    [B + 1000, 500], // middle of one block
    [B - 10, B + 20], // spans three blocks, partial at both ends
    [2 * B, B], // exactly one block
    [size - 50, 50], // the tail of the short last block
    [size - 50, 300], // overwrite past the end: grows the chunk
  ];
  let length = size;
  let current = Buffer.from(model);
  for (const [off, len] of overwrites) {
    const data = pattern(len, off);
    const info = await store.write(ID, off, data);
    length = Math.max(length, off + len);
    const next = Buffer.alloc(length);
    current.copy(next);
    data.copy(next, off);
    current = next;
    t.is(info.length, length);
  }
  const edges = new Set<number>([0, 1, length - 1, length]);
  for (let b = 1; b * B < length; b++) for (const d of [-1, 0, 1]) edges.add(b * B + d);
  for (const [off, len] of overwrites) for (const d of [-1, 0, 1]) edges.add(off + d), edges.add(off + len + d);
  const points = [...edges].filter((p) => p >= 0 && p <= length).sort((a, b) => a - b);
  for (const a of points) {
    for (const b of points) {
      if (b < a) continue;
      const got = await store.read(ID, a, b - a);
      if (!got.equals(current.subarray(a, b))) t.fail(`read [${a}, ${b}) differs`);
      const lent = await store.read(ID, a, b - a, { lent: true });
      if (!lent.equals(current.subarray(a, b))) t.fail(`lent read [${a}, ${b}) differs`);
    }
  }
  t.deepEqual(await store.verify(ID), []);
});

test('lent reads reuse memory only once their bytes are garbage: bytes held stay as read', async (t) => {
  const store = await openStore(t);
  const data = pattern(4 * B, 3);
  await store.create(ID, 1);
  await store.write(ID, 0, data);
  const held = await store.read(ID, 0, 2 * B, { lent: true });
  for (let i = 0; i < 8; i++) {
    await collectGarbage();
    const other = await store.read(ID, 2 * B, 2 * B, { lent: true });
    t.true(other.equals(data.subarray(2 * B)));
  }
  t.true(held.equals(data.subarray(0, 2 * B)), 'a held read is never written over');
  t.true(store.readBuffers.stats.reused > 0, 'the dropped reads reused their memory');
});

test('read clamps its length to the end of the chunk and refuses offsets past it', async (t) => {
  const store = await openStore(t);
  await store.create(ID, 1);
  await store.write(ID, 0, pattern(B + 10));
  t.is((await store.read(ID, B, 1000)).length, 10);
  t.is((await store.read(ID, B + 10, 5)).length, 0);
  await rejectsWith(t, store.read(ID, B + 11, 1), 'EINVAL', /0123456789abcdef.*offset 65547/);
  await rejectsWith(t, store.read(ID, -1, 1), 'EINVAL');
  await rejectsWith(t, store.read(ID, 0, -1), 'EINVAL');
});

test('a flipped byte fails reads of its block only, verify() lists it, and a write cannot hide it', async (t) => {
  const store = await openStore(t);
  const data = pattern(3 * B + 5);
  await store.create(ID, 1);
  await store.write(ID, 0, data);
  await store.sync(ID);
  await flipByte(store.dataPath(ID), B + 300);

  await rejectsWith(
    t,
    store.read(ID, B + 10, 1),
    'ECORRUPT',
    /^chunk 0123456789abcdef block 1 \(bytes 65536-131071\) fails its CRC32C check$/,
  );
  await rejectsWith(t, store.read(ID, 0, data.length), 'ECORRUPT', /block 1 /);
  // Bytes read into reused memory (a chunk.read reply's) are checked the same.
  await rejectsWith(t, store.read(ID, B + 10, 1, { lent: true }), 'ECORRUPT', /block 1 /);
  await rejectsWith(t, store.read(ID, 0, data.length, { lent: true }), 'ECORRUPT', /block 1 /);
  t.true((await store.read(ID, 0, B)).equals(data.subarray(0, B)));
  t.true((await store.read(ID, 0, B, { lent: true })).equals(data.subarray(0, B)));
  t.true((await store.read(ID, 2 * B, B + 5)).equals(data.subarray(2 * B)));
  t.deepEqual(await store.verify(ID), [1]);

  // A partial overwrite must verify the block first, or its new CRC would vouch for the flipped byte.
  await rejectsWith(t, store.write(ID, B + 1, Buffer.from('hi')), 'ECORRUPT', /block 1 /);
  t.deepEqual(await store.verify(ID), [1]);
  // Overwriting the whole block repairs it.
  await store.write(ID, B, data.subarray(B, 2 * B));
  t.deepEqual(await store.verify(ID), []);
  t.true((await store.read(ID, 0, data.length)).equals(data));
});

test('an append into a corrupt last block keeps the corruption detectable', async (t) => {
  const store = await openStore(t);
  await store.create(ID, 1);
  await store.write(ID, 0, pattern(B + 100));
  await flipByte(store.dataPath(ID), B + 3);
  await store.write(ID, B + 100, pattern(50, 2));
  t.deepEqual(await store.verify(ID), [1]);
  await rejectsWith(t, store.read(ID, B + 100, 50), 'ECORRUPT', /block 1 /);
});

test('a truncated data file reads as corrupt, never as short data', async (t) => {
  const store = await openStore(t);
  await store.create(ID, 1);
  await store.write(ID, 0, pattern(2 * B));
  await fs.truncate(store.dataPath(ID), B + 7);
  t.is((await store.read(ID, 0, B)).length, B);
  await rejectsWith(t, store.read(ID, B, 10), 'ECORRUPT', /block 1 .*ends at byte 65543/);
  t.deepEqual(await store.verify(ID), [1]);
  await fs.rm(store.dataPath(ID));
  t.deepEqual(await store.verify(ID), [0, 1]);
  await rejectsWith(t, store.read(ID, 0, 1), 'ECORRUPT', /block 0 .*missing/);
});

test('reopen after sync sees the same chunks; an unsynced tail is cut back to the synced length', async (t) => {
  const dir = await tempDir(t);
  const store = await openAt(t, dir);
  await store.create(ID, 3);
  await store.write(ID, 0, pattern(B + 1));
  await store.sync(ID);
  await store.create(ID2, 9);
  await store.sync(ID2);
  const before = store.list().sort((a, b) => a.id.localeCompare(b.id));
  await store.write(ID, B + 1, pattern(10)); // never synced

  const reopened = await openAt(t, dir);
  t.deepEqual(reopened.list().sort((a, b) => a.id.localeCompare(b.id)), before);
  t.is(reopened.usedBytes(), B + 1);
  t.is((await fs.stat(reopened.dataPath(ID))).size, B + 1);
  t.true((await reopened.read(ID, 0, B + 1)).equals(pattern(B + 1)));
  t.deepEqual(await reopened.verify(ID), []);
});

test('open() skips chunks with torn, garbage or missing meta, lists them in damaged, and removes temp files', async (t) => {
  const dir = await tempDir(t);
  const ids = ['00000000000000aa', '00000000000000bb', '00000000000000cc', '00000000000000dd', '00000000000000ee'];
  const store = await openAt(t, dir);
  for (const id of ids) {
    await store.create(id, 1);
    await store.write(id, 0, pattern(2 * B + 3));
    await store.sync(id);
  }
  const chunks = path.join(dir, 'chunks');
  const meta = (id: string) => path.join(chunks, `${id}.meta`);
  const torn = await fs.readFile(meta(ids[0]!));
  await fs.writeFile(meta(ids[0]!), torn.subarray(0, 512 + 30)); // into the first slot: neither slot is whole
  await fs.writeFile(meta(ids[1]!), 'not a meta file at all, just garbage bytes of some length');
  await flipByte(meta(ids[2]!), 8); // the slot stride, under the header CRC
  await fs.rm(meta(ids[3]!)); // orphan data file
  await fs.writeFile(path.join(chunks, `${ids[4]}.meta.tmp`), 'half a meta write');
  await fs.writeFile(path.join(chunks, 'README'), 'not ours; left alone');

  const reopened = await openAt(t, dir);
  t.deepEqual([...reopened.damaged].sort(), ids.slice(0, 4));
  t.deepEqual(reopened.list(), [{ id: ids[4]!, version: 1, length: 2 * B + 3, syncedLength: 2 * B + 3 }]);
  t.is(reopened.usedBytes(), 2 * B + 3);
  const names = await fs.readdir(chunks);
  t.false(names.some((n) => n.endsWith('.tmp')));
  t.true(names.includes('README'));
  await rejectsWith(t, reopened.read(ids[0]!, 0, 1), 'ENOENT', /chunk 00000000000000aa not found on this chunkserver/);

  // A damaged chunk can be deleted, or created afresh over its untrusted files.
  await reopened.delete(ids[0]!);
  await reopened.create(ids[1]!, 2);
  t.deepEqual([...reopened.damaged].sort(), ids.slice(2, 4));
  t.deepEqual(reopened.get(ids[1]!), { id: ids[1]!, version: 2, length: 0, syncedLength: 0 });
});

test('a write past capacity is ENOSPC and changes nothing', async (t) => {
  const store = await openStore(t, { capacity: 100_000 });
  await store.create(ID, 1);
  const first = pattern(60_000);
  await store.write(ID, 0, first);
  const before = store.get(ID);
  await rejectsWith(t, store.write(ID, 50_000, pattern(60_000, 2)), 'ENOSPC', /chunk 0123456789abcdef.*offset 50000/);
  t.deepEqual(store.get(ID), before);
  t.is(store.usedBytes(), 60_000);
  t.true((await store.read(ID, 0, 100_000)).equals(first));
  t.deepEqual(await store.verify(ID), []);
  t.is((await fs.stat(store.dataPath(ID))).size, 60_000);
  // Overwrites need no new space; growing up to capacity exactly is fine.
  await store.write(ID, 0, pattern(60_000, 3));
  await store.write(ID, 60_000, pattern(40_000, 4));
  t.is(store.usedBytes(), 100_000);
  t.true((await store.freeBytes()) <= 0);
});

test('concurrent writes to different chunks cannot together overrun capacity', async (t) => {
  const store = await openStore(t, { capacity: 100_000 });
  await store.create(ID, 1);
  await store.create(ID2, 1);
  const results = await Promise.allSettled([store.write(ID, 0, pattern(60_000)), store.write(ID2, 0, pattern(60_000))]);
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  t.is(store.usedBytes(), 60_000);
  t.true((await store.freeBytes()) <= 40_000);
});

test('writes must not leave a hole or pass the maximum chunk size', async (t) => {
  const store = await openStore(t);
  await store.create(ID, 1);
  await store.write(ID, 0, pattern(10));
  await rejectsWith(t, store.write(ID, 11, pattern(1)), 'EINVAL', /chunk 0123456789abcdef.*offset 11/);
  await rejectsWith(t, store.write(ID, -1, pattern(1)), 'EINVAL');
  await rejectsWith(t, store.write(ID, 10, pattern(MAX)), 'EINVAL', /maximum chunk size/);
  t.deepEqual(store.get(ID), { id: ID, version: 1, length: 10, syncedLength: 0 });
  t.deepEqual(await store.write(ID, 10, Buffer.alloc(0)), { id: ID, version: 1, length: 10, syncedLength: 0 });
});

test('ids that are not 16 lowercase hex characters are EINVAL everywhere', async (t) => {
  const store = await openStore(t);
  for (const bad of ['../x', '', 'zz', '../../etc/passwd', '0123456789ABCDEF', '0123456789abcdef0', '0123456789abcde/']) {
    await rejectsWith(t, store.create(bad, 1), 'EINVAL');
    await rejectsWith(t, store.write(bad, 0, Buffer.from('x')), 'EINVAL');
    await rejectsWith(t, store.read(bad, 0, 1), 'EINVAL');
    await rejectsWith(t, store.delete(bad), 'EINVAL');
    t.throws(() => store.dataPath(bad), { instanceOf: OfsError });
  }
  t.deepEqual(await fs.readdir(path.join(store.dir, 'chunks')), []);
});

test('unknown chunks are ENOENT; a second create is EEXIST; delete removes both files and tolerates absence', async (t) => {
  const store = await openStore(t);
  await rejectsWith(t, store.read(ID, 0, 1), 'ENOENT', /^chunk 0123456789abcdef not found on this chunkserver$/);
  await rejectsWith(t, store.sync(ID), 'ENOENT');
  t.is(store.get(ID), undefined);
  await store.create(ID, 1);
  await rejectsWith(t, store.create(ID, 2), 'EEXIST', /0123456789abcdef/);
  await store.write(ID, 0, pattern(100));
  await store.delete(ID);
  t.deepEqual(await fs.readdir(path.join(store.dir, 'chunks')), []);
  t.is(store.usedBytes(), 0);
  await t.notThrowsAsync(store.delete(ID));
});

test('a version never goes down, and setVersion is durable', async (t) => {
  const dir = await tempDir(t);
  const store = await openAt(t, dir, {});
  await store.create(ID, 4);
  t.deepEqual(await store.setVersion(ID, 5), { id: ID, version: 5, length: 0, syncedLength: 0 });
  await rejectsWith(t, store.setVersion(ID, 4), 'EINVAL', /0123456789abcdef.*\b5\b.*\b4\b/);
  await rejectsWith(t, store.setVersion(ID, -1), 'EINVAL');
  t.is((await store.setVersion(ID, 5)).version, 5);
  await store.write(ID, 0, pattern(100));
  await store.setVersion(ID, 6); // also makes the write durable
  const reopened = await openAt(t, dir, {});
  t.deepEqual(reopened.get(ID), { id: ID, version: 6, length: 100, syncedLength: 100 });
  t.true((await reopened.read(ID, 0, 100)).equals(pattern(100)));
});

test('freeBytes is bounded by capacity less what is used', async (t) => {
  const store = await openStore(t, { capacity: 5 * B });
  await store.create(ID, 1);
  await store.write(ID, 0, pattern(B));
  const free = await store.freeBytes();
  t.true(free <= 4 * B && free >= 0);
  const unbounded = await openStore(t);
  t.is(unbounded.capacity, Number.MAX_SAFE_INTEGER);
  t.true((await unbounded.freeBytes()) > 0);
});

type Op =
  | { kind: 'write'; at: number; size: number; seed: number }
  | { kind: 'read'; at: number; size: number }
  | { kind: 'reopen' };

test('random writes, reads and reopens agree with an in-memory model', async (t) => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), size: fc.integer({ min: 0, max: 3 * B }), seed: fc.nat() }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), size: fc.integer({ min: 0, max: 4 * B }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  );
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
      const runDir = path.join(dir, String(run++));
      let store = await openAt(t, runDir, { maxChunkSize: 6 * B });
      await store.create(ID, 1);
      let model = Buffer.alloc(0);
      for (const o of ops) {
        // `at` picks an offset in [0, length], the only offsets a write or read accepts.
        const offset = 'at' in o ? Math.floor(o.at * model.length) : 0;
        if (o.kind === 'write') {
          const data = pattern(Math.min(o.size, 6 * B - offset), o.seed);
          await store.write(ID, offset, data);
          const next = Buffer.alloc(Math.max(model.length, offset + data.length));
          model.copy(next);
          data.copy(next, offset);
          model = next;
        } else if (o.kind === 'read') {
          const got = await store.read(ID, offset, o.size);
          if (!got.equals(model.subarray(offset, offset + o.size))) return false;
        } else {
          await store.sync(ID);
          store = await openAt(t, runDir, { maxChunkSize: 6 * B });
        }
      }
      return (await store.verify(ID)).length === 0 && store.get(ID)?.length === model.length;
    }),
    { numRuns: 100 },
  );
  t.pass();
});

test('a create answers before its files are made: a write and a sync beside it wait for them, and what they synced outlives the store; a delete meanwhile leaves no file', async (t) => {
  const dir = await tempDir(t);
  const store = await openAt(t, dir, { maxChunkSize: MAX });
  const files = async () => (await fs.readdir(path.join(dir, 'chunks'))).sort();
  await store.create(ID, 1);
  t.deepEqual(store.get(ID), { id: ID, version: 1, length: 0, syncedLength: 0 });
  t.is((await store.read(ID, 0, 10)).length, 0);
  await Promise.all([store.write(ID, 0, pattern(B + 3)), store.sync(ID)]);
  await store.sync(ID);
  await store.create(ID2, 1);
  await store.delete(ID2);
  t.deepEqual(await files(), [`${ID}.data`, `${ID}.meta`]);
  const reopened = await openAt(t, dir, { maxChunkSize: MAX });
  t.deepEqual(reopened.list(), [{ id: ID, version: 1, length: B + 3, syncedLength: B + 3 }]);
  t.true((await reopened.read(ID, 0, B + 3)).equals(pattern(B + 3)));
});

test('files that cannot be made: the first write says so, the next create waits for its own and fails, and once files can be made again every chunk is made and written', async (t) => {
  const dir = await tempDir(t);
  const store = await openAt(t, dir, { maxChunkSize: MAX });
  const chunks = path.join(dir, 'chunks');
  await fs.rm(chunks, { recursive: true }); // every open in it now fails ENOENT
  await store.create(ID, 1); // answered before its files are tried
  await t.throwsAsync(store.write(ID, 0, pattern(10)), { instanceOf: OfsError, message: /chunk 0123456789abcdef: create its files/ });
  const ID3 = '00000000000000c3';
  await t.throwsAsync(store.create(ID2, 1), { instanceOf: OfsError, message: /chunk fedcba9876543210: create its files/ });
  t.is(store.get(ID2), undefined, 'a create that failed leaves no chunk');
  await fs.mkdir(chunks);
  await store.create(ID3, 1);
  await store.write(ID, 0, pattern(10));
  await store.write(ID3, 0, pattern(20));
  await Promise.all([store.sync(ID), store.sync(ID3)]);
  t.deepEqual((await fs.readdir(chunks)).sort(), [`${ID3}.data`, `${ID3}.meta`, `${ID}.data`, `${ID}.meta`].sort());
  t.true((await store.read(ID3, 0, 20)).equals(pattern(20)));
});

// Serial: the test counts this process's open files, which tests running beside it would change.
test.serial('a store closed while its new chunks’ files are still being made leaves none of them open', async (t) => {
  const dir = await tempDir(t);
  const openFiles = async () => (await fs.readdir('/proc/self/fd')).length;
  const before = await openFiles();
  const store = await ChunkStore.open(dir, { maxChunkSize: MAX });
  for (let i = 1; i <= 32; i++) await store.create(formatChunkId(i), 1);
  await store.close();
  t.is(await openFiles(), before);
});

/** Runs `run` with every chunk file's fdatasync logged by file name (`<name> start` / `<name> end`), the data files' held back 50 ms. */
async function withSyncLog(run: (log: string[]) => Promise<void>): Promise<void> {
  const proto = ChunkFile.prototype as unknown as { datasync(this: { fd: number }): Promise<void> };
  const original = proto.datasync;
  const log: string[] = [];
  proto.datasync = async function (this: { fd: number }) {
    const name = path.basename(await fs.readlink(`/proc/self/fd/${this.fd}`));
    log.push(`${name} start`);
    if (name.endsWith('.data')) await new Promise((resolve) => setTimeout(resolve, 50));
    await original.call(this);
    log.push(`${name} end`);
  };
  try {
    await run(log);
  } finally {
    proto.datasync = original;
  }
}

test.serial("a new chunk's first sync writes its meta beside its data's sync; once it holds durable bytes, the meta waits for the data", async (t) => {
  const store = await openStore(t);
  await withSyncLog(async (log) => {
    await store.create(ID, 1);
    await store.write(ID, 0, pattern(1000, 1));
    await store.sync(ID);
    t.true(log.indexOf(`${ID}.meta start`) < log.indexOf(`${ID}.data end`), log.join(', '));
    log.length = 0;
    await store.write(ID, 1000, pattern(1000, 2));
    await store.sync(ID);
    t.true(log.indexOf(`${ID}.data end`) < log.indexOf(`${ID}.meta start`), log.join(', '));
  });
  t.is(sha256(await store.read(ID, 0, 2000)), sha256(Buffer.concat([pattern(1000, 1), pattern(1000, 2)])));
});
