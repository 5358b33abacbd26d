import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { crc32c } from '@node-rs/crc32';
import { BLOCK_SIZE, ChunkStore } from '../../src/storage/chunk-store.js';
import { MAX_META_CHUNK_SIZE, decodeMetaFile, slotOffset, slotStrideFor } from '../../src/storage/chunk-meta.js';
import { MAX_CHUNK_SIZE } from '../../src/actors/chunkserver/role.js';
import { TEST_MAX_CHUNK_SIZE, openAt, pattern, tempDir } from '../helpers/chunk-store.js';
import { formatOneMetaBytes } from '../helpers/legacy-chunk-meta.js';

const B = BLOCK_SIZE;
const MAX = TEST_MAX_CHUNK_SIZE;
const ID = '0123456789abcdef';

const metaPath = (dir: string, id = ID) => path.join(dir, 'chunks', `${id}.meta`);
const inode = async (file: string) => (await fs.stat(file)).ino;

test('sync and setVersion rewrite one slot of the meta file in place; a reopened store shows what each synced', async (t) => {
  const dir = await tempDir(t);
  const store = await openAt(t, dir);
  await store.create(ID, 1);
  const file = metaPath(dir);
  // The create answers before its files are made; a first write waits for them (and writes no meta).
  await store.write(ID, 0, pattern(1));
  const { ino, size } = await fs.stat(file);
  t.is(size, slotOffset(slotStrideFor(MAX), 1) + slotStrideFor(MAX), 'created at its final size');
  let length = 0;
  for (let i = 1; i <= 6; i++) {
    const before = await fs.readFile(file);
    if (i % 3 === 0) {
      await store.setVersion(ID, 1 + i);
    } else {
      await store.write(ID, length, pattern(B / 2 + i, i));
      length += B / 2 + i;
      await store.sync(ID);
    }
    const after = await fs.readFile(file);
    const { newest } = decodeMetaFile(after, ID);
    t.is(newest?.generation, i + 1);
    const changed = [...after.keys()].filter((k) => after[k] !== before[k]);
    const slot = slotOffset(newest!.stride, newest!.index);
    t.true(changed.every((k) => k >= slot && k < slot + newest!.stride), `update ${i} wrote only the slot it took`);
    t.is(newest!.index, (i % 2) as 0 | 1, 'slots alternate');

    const reopened = await openAt(t, dir);
    const version = i >= 3 ? 1 + 3 * Math.floor(i / 3) : 1;
    t.deepEqual(reopened.get(ID), { id: ID, version, length, syncedLength: length });
    t.deepEqual(await reopened.verify(ID), []);
  }
  t.deepEqual(await fs.stat(file).then((s) => [s.ino, s.size]), [ino, size], 'no rename, no growth');
  t.deepEqual((await fs.readdir(path.join(dir, 'chunks'))).sort(), [`${ID}.data`, `${ID}.meta`]);
});

/**
 * Syncs length L, then writes more and syncs again, recording what that
 * second sync wrote to the meta file; each case puts the meta file back as it
 * was after the first sync, applies part of that write (a crash in the middle
 * of it) in a copy of the chunk, and opens the copy.
 */
test('a crash in the middle of the meta slot write: a slot left whole reopens at the length synced before; a torn one, with data past that length, leaves the replica damaged and its files as they were', async (t) => {
  const dir = await tempDir(t);
  const store = await openAt(t, dir);
  const L = B + 100;
  await store.create(ID, 1);
  await store.write(ID, 0, pattern(L));
  await store.sync(ID);
  await store.write(ID, L, pattern(3000, 2));
  await store.sync(ID); // the newest slot vouches for L + 3000, the other for L
  const synced = await fs.readFile(metaPath(dir));
  await store.write(ID, L + 3000, pattern(B, 3));
  await store.sync(ID);
  const full = await fs.readFile(metaPath(dir));
  const data = await fs.readFile(store.dataPath(ID));
  const changed = [...full.keys()].filter((k) => full[k] !== synced[k]);
  const first = changed[0]!;
  const last = changed.at(-1)!;
  t.true(last - first < slotStrideFor(MAX), 'the sync wrote one slot');

  const cases: [string, Buffer][] = [];
  for (let len = 0; len <= last - first; len++) {
    const torn = Buffer.from(synced);
    full.copy(torn, first, first, first + len);
    cases.push([`torn after ${len} of ${last - first + 1} bytes`, torn]);
  }
  const garbage = Buffer.from(synced);
  const nextIndex = decodeMetaFile(synced, ID).newest!.index === 0 ? 1 : 0;
  randomBytes(slotStrideFor(MAX)).copy(garbage, slotOffset(slotStrideFor(MAX), nextIndex));
  cases.push(['garbage in the slot that would be next', garbage]);

  let whole = 0;
  let torn = 0;
  for (const [what, meta] of cases) {
    const copy = await tempDir(t);
    await fs.mkdir(path.join(copy, 'chunks'));
    await fs.writeFile(path.join(copy, 'chunks', `${ID}.data`), data);
    await fs.writeFile(metaPath(copy), meta);
    const reopened = await openAt(t, copy);
    if (decodeMetaFile(meta, ID).otherSlotBad) {
      // Torn, or a flipped bit in an acknowledged meta: the two look alike, and the second would leave this
      // replica without bytes it vouched for. Not served; the master copies the chunk from another.
      torn++;
      t.deepEqual(reopened.damaged, [ID], what);
      t.is(reopened.get(ID), undefined, what);
      t.is((await fs.stat(path.join(copy, 'chunks', `${ID}.data`))).size, data.length, `${what}: the files are kept as they were`);
      continue;
    }
    whole++;
    t.deepEqual(reopened.damaged, [], what);
    t.deepEqual(reopened.get(ID), { id: ID, version: 1, length: L + 3000, syncedLength: L + 3000 }, what);
    t.is((await fs.stat(reopened.dataPath(ID))).size, L + 3000, `${what}: the unsynced tail is cut`);
    t.deepEqual(await reopened.verify(ID), [], what);
  }
  t.true(whole > 0 && torn > 0, `both kinds of crash were tried (${whole} whole, ${torn} torn)`);
});

for (const update of ['sync', 'setVersion'] as const) {
  test(`a format-1 meta file loads, and its next update (${update}) rewrites it whole as format 2`, async (t) => {
    const dir = await tempDir(t);
    const data = pattern(B + 5);
    await fs.mkdir(path.join(dir, 'chunks'));
    await fs.writeFile(path.join(dir, 'chunks', `${ID}.data`), Buffer.concat([data, pattern(99, 9)])); // an unsynced tail
    await fs.writeFile(metaPath(dir), formatOneMetaBytes({ id: ID, version: 7, length: B + 5, crcs: new Uint32Array([crc32c(data.subarray(0, B)), crc32c(data.subarray(B))]) }));
    const ino = await inode(metaPath(dir));

    const store = await openAt(t, dir);
    t.deepEqual(store.get(ID), { id: ID, version: 7, length: B + 5, syncedLength: B + 5 });
    t.true((await store.read(ID, 0, B + 5)).equals(data));
    t.is((await fs.stat(store.dataPath(ID))).size, B + 5);

    if (update === 'sync') {
      await store.write(ID, B + 5, pattern(20, 3));
      await store.sync(ID);
    } else {
      await store.setVersion(ID, 8);
    }
    const want = update === 'sync' ? { id: ID, version: 7, length: B + 25, syncedLength: B + 25 } : { id: ID, version: 8, length: B + 5, syncedLength: B + 5 };
    const converted = await fs.readFile(metaPath(dir));
    t.is(converted.readUInt32LE(4), 2);
    t.deepEqual(decodeMetaFile(converted, ID).newest, { stride: slotStrideFor(MAX), index: 0, generation: 1 });
    t.not(await inode(metaPath(dir)), ino, 'replaced by rename');
    t.deepEqual((await fs.readdir(path.join(dir, 'chunks'))).sort(), [`${ID}.data`, `${ID}.meta`], 'no temp file left');
    t.deepEqual((await openAt(t, dir)).get(ID), want);

    // Converted, the file is updated in place from now on.
    const convertedIno = await inode(metaPath(dir));
    await store.setVersion(ID, 9);
    t.is(await inode(metaPath(dir)), convertedIno);
    t.deepEqual((await openAt(t, dir)).get(ID), { ...want, version: 9 });
  });
}

test('a meta grown past its file\'s stride (the maximum chunk size raised since) is rewritten whole with a bigger stride', async (t) => {
  const dir = await tempDir(t);
  const small = await openAt(t, dir, { maxChunkSize: B });
  await small.create(ID, 1);
  await small.write(ID, 0, pattern(B));
  await small.sync(ID);
  await small.close();
  const ino = await inode(metaPath(dir));
  t.is(decodeMetaFile(await fs.readFile(metaPath(dir)), ID).newest?.stride, 512);

  // 512 bytes hold 118 block checksums; 119 blocks need the next stride.
  const max = 8 * 1024 * 1024;
  const length = 118 * B + 1;
  const store = await openAt(t, dir, { maxChunkSize: max });
  await store.write(ID, B, pattern(length - 2 * B, 2));
  await store.sync(ID);
  t.is(await inode(metaPath(dir)), ino, 'still fits: in place');
  await store.write(ID, length - B, pattern(B, 3));
  await store.sync(ID);
  t.not(await inode(metaPath(dir)), ino, 'grown past the stride: replaced by rename');
  const grown = decodeMetaFile(await fs.readFile(metaPath(dir)), ID);
  t.deepEqual(grown.newest, { stride: slotStrideFor(max), index: 0, generation: 1 });
  t.is((await fs.stat(metaPath(dir))).size, slotOffset(slotStrideFor(max), 1) + slotStrideFor(max), 'at its final size');
  t.is(grown.meta.length, length);
  t.deepEqual((await fs.readdir(path.join(dir, 'chunks'))).sort(), [`${ID}.data`, `${ID}.meta`]);

  const reopened = await openAt(t, dir, { maxChunkSize: max });
  t.deepEqual(reopened.get(ID), { id: ID, version: 1, length, syncedLength: length });
  t.deepEqual(await reopened.verify(ID), []);
});

test('a new chunk\'s meta file takes a block or two of disk, not its slots\' full size: a 1 KiB chunk under the 1 GiB maximum', async (t) => {
  const dir = await tempDir(t);
  const max = MAX_CHUNK_SIZE;
  const store = await openAt(t, dir, { maxChunkSize: max });
  const bytes = pattern(1024, 5);
  await store.create(ID, 1);
  await store.write(ID, 0, bytes);
  await store.sync(ID);
  await store.setVersion(ID, 2); // the sync wrote slot 1; this rewrites slot 0: both slots have been written
  const stride = slotStrideFor(max);
  const { size, blocks, blksize } = await fs.stat(metaPath(dir));
  t.is(size, slotOffset(stride, 1) + stride, 'at its final size: a slot update never grows it');
  // Each slot is about 64 KiB long; only the block holding the header and slot 0's frame, and the one holding
  // slot 1's, are on disk. (A file system whose blocks are too large for that to show cannot tell.)
  const twoBlocks = 2 * blksize;
  if (2 * twoBlocks > size) t.log(`blocks of ${blksize} bytes are too large to tell a sparse ${size}-byte file from a whole one`);
  else t.true(blocks * 512 <= twoBlocks, `${blocks * 512} bytes on disk for a ${size}-byte meta file, blocks of ${blksize}`);
  await store.close();
  const reopened = await openAt(t, dir, { maxChunkSize: max });
  t.deepEqual(reopened.get(ID), { id: ID, version: 2, length: 1024, syncedLength: 1024 });
  t.true((await reopened.read(ID, 0, 1024)).equals(bytes));
});

test('a maximum chunk size whose meta no meta file could hold is refused at open', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(ChunkStore.open(dir, { maxChunkSize: MAX_META_CHUNK_SIZE + 1 }), { message: /maxChunkSize 68719476737 is not a positive integer up to 68719476736/ });
  await (await ChunkStore.open(dir, { maxChunkSize: MAX_META_CHUNK_SIZE })).close();
});

test('a flipped bit in the newest meta slot, after it was acknowledged: the replica is damaged, never served one update behind', async (t) => {
  const dir = await tempDir(t);
  const store = await openAt(t, dir);
  await store.create(ID, 1);
  const first = pattern(B + 10, 3);
  await store.write(ID, 0, first);
  await store.sync(ID);
  await store.write(ID, first.length, pattern(B, 4));
  await store.sync(ID); // acknowledged: a client was told these bytes are there
  await store.close();
  const file = await fs.readFile(metaPath(dir));
  const { newest } = decodeMetaFile(file, ID);
  file[slotOffset(newest!.stride, newest!.index) + 20]! ^= 0x10; // inside the length field of the newest slot
  await fs.writeFile(metaPath(dir), file);

  // Loaded from the older slot, it would pass for current one update behind: a reader would take the
  // acknowledged tail for a hole of zeros, and a mutation would write over it.
  const reopened = await openAt(t, dir);
  t.deepEqual(reopened.damaged, [ID]);
  t.is(reopened.get(ID), undefined);
  t.is((await fs.stat(path.join(dir, 'chunks', `${ID}.data`))).size, first.length + B, 'its bytes are kept as they were');
});

test('an unsynced write after the first sync (the second slot still blank) is cut at start-up, and reads end there as usual', async (t) => {
  const dir = await tempDir(t);
  const store = await openAt(t, dir);
  await store.create(ID, 1);
  await store.write(ID, 0, pattern(B, 5)); // never synced: a crash takes it back
  await store.close();
  const reopened = await openAt(t, dir);
  t.is(reopened.get(ID)?.length, 0);
  t.is((await reopened.read(ID, 0, B)).length, 0);
});
