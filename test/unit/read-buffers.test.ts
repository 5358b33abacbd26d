import test from 'ava';
import { ReadBuffers } from '../../src/storage/read-buffers.js';
import { collectGarbage } from '../helpers/heap.js';
import { waitFor } from '../helpers/cluster.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Lends one view of fresh memory, filled with `fill`, and returns only what the test may keep: the memory. */
function lendOnce(pool: ReadBuffers, size: number, fill: number, keep?: Buffer[]): ArrayBuffer {
  const memory = pool.take(size)!;
  const view = pool.lend(memory, 0, size);
  view.fill(fill);
  keep?.push(view);
  return memory;
}

test('memory comes back only once the view lent over it is garbage, and is then reused', async (t) => {
  const pool = new ReadBuffers();
  const kept: Buffer[] = [];
  const first = lendOnce(pool, 2 * MiB, 1, kept);
  await collectGarbage();
  // Still held (as a socket holds a frame it has not sent yet): never handed out again.
  t.is(pool.stats.returned, 0);
  const second = pool.take(2 * MiB)!;
  t.not(second, first);
  t.true(kept[0]!.every((b) => b === 1), 'the held bytes are untouched');

  kept.length = 0;
  await collectGarbage();
  t.is(pool.stats.returned, 1);
  t.is(pool.take(2 * MiB), first, 'the memory of the dropped view is reused');
  t.is(pool.stats.reused, 1);
});

test('sizes go by power-of-two classes from 64 KiB; reads above maxBytes are not pooled', (t) => {
  const pool = new ReadBuffers({ maxBytes: 4 * MiB });
  t.is(pool.take(1)!.byteLength, 64 * KiB);
  t.is(pool.take(64 * KiB + 1)!.byteLength, 128 * KiB);
  t.is(pool.take(2 * MiB)!.byteLength, 2 * MiB);
  t.is(pool.take(2 * MiB + 128 * KiB)!.byteLength, 4 * MiB);
  t.is(pool.take(4 * MiB + 1), undefined);
  t.is(pool.take(0), undefined);
});

test('the free lists hold maxFreeBytes at most, and trim() lets them go', async (t) => {
  const pool = new ReadBuffers({ maxFreeBytes: 2 * MiB });
  for (let i = 0; i < 3; i++) lendOnce(pool, MiB, i);
  await collectGarbage();
  t.is(pool.stats.returned, 3);
  t.is(pool.stats.dropped, 1);
  t.is(pool.idleBytes, 2 * MiB);
  pool.trim();
  t.is(pool.idleBytes, 0);
  t.is(pool.take(MiB)!.byteLength, MiB);
  t.is(pool.stats.allocated, 4);
});

test('an idle pool lets its free memory go by itself', async (t) => {
  const pool = new ReadBuffers({ idleMs: 20 });
  lendOnce(pool, MiB, 0);
  await collectGarbage();
  t.is(pool.idleBytes, MiB);
  await waitFor('the idle pool to let its memory go', async () => pool.idleBytes === 0, 5_000);
  t.is(pool.idleBytes, 0);
});
