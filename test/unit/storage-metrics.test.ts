import test from 'ava';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkStoreMetrics } from '../../src/storage/chunk-store.js';
import { Journal, type JournalMetrics } from '../../src/storage/journal.js';
import { openAt, pattern, tempDir } from '../helpers/chunk-store.js';

const ID = '00000000000000c1';

/** Records what a store reports, to compare with what it was asked to do. */
function recorder() {
  const seen = { written: 0, read: 0, syncs: 0, corrupt: { read: 0, verify: 0 } };
  const metrics: ChunkStoreMetrics = {
    written: (bytes) => (seen.written += bytes),
    read: (bytes) => (seen.read += bytes),
    synced: (seconds) => {
      if (seconds >= 0) seen.syncs++;
    },
    corrupt: (check, blocks) => (seen.corrupt[check] += blocks),
  };
  return { seen, metrics };
}

test('a chunk store reports the bytes written and read, its syncs, and the blocks that fail their check', async (t) => {
  const dir = await tempDir(t);
  const { seen, metrics } = recorder();
  const store = await openAt(t, dir, { maxChunkSize: 1024 * 1024, metrics });
  await store.create(ID, 1);
  await store.write(ID, 0, pattern(200_000));
  await store.write(ID, 200_000, pattern(1000, 2));
  await store.sync(ID);
  t.is(seen.written, 201_000);
  t.is(seen.syncs, 1);
  t.is((await store.read(ID, 70_000, 100_000)).length, 100_000);
  t.is(seen.read, 100_000, 'the bytes returned, not the whole blocks checked');

  const file = await open(join(dir, 'chunks', `${ID}.data`), 'r+');
  await file.write(Buffer.from([0xff ^ pattern(200_000)[5]!]), 0, 1, 5);
  await file.close();
  await t.throwsAsync(store.read(ID, 0, 10), { code: 'ECORRUPT' });
  t.deepEqual(seen.corrupt, { read: 1, verify: 0 });
  t.is(seen.read, 100_000, 'a refused read moved no bytes');
  t.deepEqual(await store.verify(ID), [0]);
  t.deepEqual(seen.corrupt, { read: 1, verify: 1 });
});

test('a journal reports each group commit: one sync for the appends that came together, and how many records it made durable', async (t) => {
  const dir = await tempDir(t);
  const commits: number[] = [];
  const metrics: JournalMetrics = { synced: (_seconds, records) => commits.push(records) };
  const { journal } = await Journal.open(dir, { log: () => undefined, metrics });
  await Promise.all([journal.append([{ seq: 1 }, { seq: 2 }]), journal.append([{ seq: 3 }])]);
  await journal.append([{ seq: 4 }]);
  await journal.close();
  t.deepEqual(commits, [3, 1]);
});
