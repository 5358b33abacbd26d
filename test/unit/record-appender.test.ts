import test, { type ExecutionContext } from 'ava';
import type { ChunkMutator, MutationResult } from '../../src/client/chunk-mutator.js';
import { PIECE_BYTES } from '../../src/client/file-writer.js';
import { RecordAppender, type AppendCounters } from '../../src/client/record-appender.js';

interface Call {
  index: number | 'last';
  length: number;
  /** What the fake primary answered, once it did. */
  result?: MutationResult;
}

interface Held {
  release: () => void;
  fail: (err: Error) => void;
}

/**
 * A primary for every chunk of one file, as far as record append goes: it
 * appends a mutation's bytes at the chunk's length, or pads the chunk when
 * they do not fit. It decides the offset when it commits, i.e. when the test
 * releases a held call, as a real primary does.
 */
class FakePrimary {
  /** Bytes of each chunk (padding as zeros). */
  readonly chunks: Buffer[] = [];
  readonly calls: Call[] = [];
  /** Hold each call until the test releases (or fails) it. */
  hold = false;
  /** Calls held, in the order they came. */
  readonly held: Held[] = [];
  /** Fail the next this many calls (without writing anything). */
  failNext = 0;
  attempts = 1;
  private readonly callWaiters: { n: number; resolve: () => void }[] = [];

  constructor(readonly chunkSize: number) {}

  async mutate(path: string, index: number | 'last', mode: 'write' | 'append', offset: number, data: Buffer): Promise<MutationResult> {
    if (path !== '/f' || mode !== 'append' || offset !== 0) throw new Error(`unexpected mutate(${path}, ${index}, ${mode}, ${offset})`);
    const call: Call = { index, length: data.length };
    this.calls.push(call);
    for (const w of this.callWaiters.filter((w) => this.calls.length >= w.n)) {
      this.callWaiters.splice(this.callWaiters.indexOf(w), 1);
      w.resolve();
    }
    if (this.hold) await new Promise<void>((release, fail) => this.held.push({ release, fail }));
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('primary failed');
    }
    const i = index === 'last' ? Math.max(0, this.chunks.length - 1) : index;
    while (this.chunks.length <= i) this.chunks.push(Buffer.alloc(0));
    const chunk = this.chunks[i]!;
    if (chunk.length + data.length > this.chunkSize) {
      this.chunks[i] = Buffer.concat([chunk, Buffer.alloc(this.chunkSize - chunk.length)]);
      call.result = { index: i, offset: chunk.length, padded: true, chunkSize: this.chunkSize, attempts: this.attempts };
    } else {
      this.chunks[i] = Buffer.concat([chunk, data]);
      call.result = { index: i, offset: chunk.length, padded: false, chunkSize: this.chunkSize, attempts: this.attempts };
    }
    return call.result;
  }

  /** Resolves once `n` calls came in all told. */
  callsReached(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.callWaiters.push({ n, resolve }));
  }

  /** The oldest held call goes on (released calls commit in the order the test releases them). */
  releaseOne(): void {
    this.held.shift()!.release();
  }

  failOne(err: Error): void {
    this.held.shift()!.fail(err);
  }

  /** `length` bytes of the simulated file at `at` (a record never crosses a chunk). */
  read(at: number, length: number): Buffer {
    const chunk = this.chunks[Math.floor(at / this.chunkSize)] ?? Buffer.alloc(0);
    const inChunk = at % this.chunkSize;
    return chunk.subarray(inChunk, inChunk + length);
  }

  get lengths(): number[] {
    return this.calls.map((c) => c.length);
  }
}

function setup(chunkSize: number) {
  const primary = new FakePrimary(chunkSize);
  const counters: AppendCounters = { batches: 0, records: 0, resent: 0 };
  const appender = new RecordAppender(primary as unknown as ChunkMutator, '/f', chunkSize, counters);
  return { primary, counters, appender };
}

let seed = 1;
/** A record of `length` bytes that no other record of the test matches. */
function record(length: number): Buffer {
  const buf = Buffer.alloc(length);
  const tag = seed++;
  for (let i = 0; i < length; i++) buf[i] = (tag * 131 + i * 7 + (i >> 8)) & 0xff || 1;
  if (length >= 2) buf.writeUInt16BE(tag & 0xffff, 0);
  return buf;
}

/** Some turns of the event loop go by (every send the appender scheduled has run). */
async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Every record's offset points at exactly its own bytes in the simulated file, and no two records overlap. */
function assertInPlace(t: ExecutionContext, primary: FakePrimary, records: Buffer[], offsets: number[]) {
  t.is(offsets.length, records.length);
  records.forEach((r, i) => t.true(primary.read(offsets[i]!, r.length).equals(r), `record ${i} (${r.length} bytes) at ${offsets[i]}`));
  const spans = records.map((r, i) => [offsets[i]!, offsets[i]! + r.length] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) t.true(spans[i]![0] >= spans[i - 1]![1], 'records do not overlap');
}

test('a single append with nothing in flight goes alone, at once', async (t) => {
  const { primary, appender, counters } = setup(4096);
  const r = record(100);
  const offset = await appender.append(r);
  t.deepEqual(primary.lengths, [100]);
  t.is(primary.calls[0]!.index, 'last', 'the first append goes to the file\'s last chunk');
  t.is(offset, 0);
  assertInPlace(t, primary, [r], [offset]);
  t.deepEqual(counters, { batches: 1, records: 1, resent: 0 });
});

test('records appended in one turn of the event loop go as one batch, one after another', async (t) => {
  const { primary, appender, counters } = setup(4096);
  const records = [record(10), record(20), record(30)];
  const offsets = await Promise.all(records.map((r) => appender.append(r)));
  t.deepEqual(primary.lengths, [60]);
  t.deepEqual(offsets, [0, 10, 30]);
  assertInPlace(t, primary, records, offsets);
  t.deepEqual(counters, { batches: 1, records: 3, resent: 0 });
});

test('callers that append again as soon as their records come back go together again, not the first alone', async (t) => {
  const { primary, appender } = setup(4096);
  const records = [0, 1, 2].map(() => [record(10), record(20), record(30)]);
  // Three callers, each appending its next record once its last one is in, after some work of its own
  // (a few awaits: caller i takes 4 × i microtasks, all within the same turn of the event loop).
  const callers = records.map(async (mine, i) => {
    const offsets: number[] = [];
    for (const r of mine) {
      for (let k = 0; k < 4 * i; k++) await Promise.resolve();
      offsets.push(await appender.append(r));
    }
    return offsets;
  });
  const offsets = await Promise.all(callers);
  t.deepEqual(primary.lengths, [30, 60, 90], 'each round of the three callers is one batch');
  assertInPlace(t, primary, records.flat(), [0, 1, 2].flatMap((caller) => offsets[caller]!));
});

test('two batches go in flight at once; records appended while both are in flight go together in the next batch', async (t) => {
  const { primary, appender, counters } = setup(4096);
  primary.hold = true;

  const first = record(100);
  const pFirst = appender.append(first);
  await primary.callsReached(1);
  const second = record(50);
  const pSecond = appender.append(second);
  await primary.callsReached(2);
  t.deepEqual(primary.lengths, [100, 50], 'the second goes at once too, beside the first');

  // Both slots are busy: these wait, over several turns of the event loop.
  const later = [record(30), record(40), record(70), record(11)];
  const pLater: Promise<number>[] = [];
  for (const r of later) {
    pLater.push(appender.append(r));
    await turns();
  }
  t.deepEqual(primary.lengths, [100, 50], 'nothing more is sent while two batches are in flight');

  primary.releaseOne(); // the first commits
  t.is(await pFirst, 0);
  await primary.callsReached(3);
  t.deepEqual(primary.lengths, [100, 50, 30 + 40 + 70 + 11], 'the waiting records go as one batch');
  primary.hold = false;
  primary.releaseOne(); // the second commits after the first
  primary.releaseOne(); // then the batch
  const offsets = [await pFirst, await pSecond, ...(await Promise.all(pLater))];
  t.deepEqual(offsets, [0, 100, 150, 180, 220, 290]);
  assertInPlace(t, primary, [first, second, ...later], offsets);
  await turns();
  t.is(primary.calls.length, 3);
  t.deepEqual(counters, { batches: 3, records: 6, resent: 0 });
});

test('offsets follow the order the primary commits in, not the order of sending', async (t) => {
  const { primary, appender } = setup(4096);
  primary.hold = true;
  const a = record(100);
  const b = record(60);
  const pa = appender.append(a);
  await primary.callsReached(1);
  const pb = appender.append(b);
  await primary.callsReached(2);
  // The primary commits b's batch first.
  const [heldA, heldB] = primary.held.splice(0, 2);
  heldB!.release();
  t.is(await pb, 0);
  heldA!.release();
  t.is(await pa, 60);
  assertInPlace(t, primary, [a, b], [60, 0]);
});

test('a batch is at most a quarter of the chunk', async (t) => {
  const chunkSize = 4096; // batches of at most 1024 bytes
  const { primary, appender, counters } = setup(chunkSize);
  primary.hold = true;

  const fill = [record(8), record(8)];
  const pFill = [appender.append(fill[0]!)];
  await primary.callsReached(1);
  pFill.push(appender.append(fill[1]!));
  await primary.callsReached(2);

  // 256 × 4 fills a batch exactly; 300 × 3 (a fourth would make 1200); 300 (1000 more would make 1300); 1000 + 24 exactly; 1 + 1.
  const records = [256, 256, 256, 256, 300, 300, 300, 300, 1000, 24, 1, 1].map((n) => record(n));
  const promises = records.map((r) => appender.append(r));
  await turns();
  t.is(primary.calls.length, 2);

  primary.hold = false;
  while (primary.held.length > 0) primary.releaseOne();
  const offsets = await Promise.all([...pFill, ...promises]);
  await turns();

  t.deepEqual(primary.lengths, [8, 8, 1024, 900, 300, 1024, 2]);
  assertInPlace(t, primary, [...fill, ...records], offsets);
  t.deepEqual(counters, { batches: 7, records: 14, resent: 0 });
});

test('a batch is at most PIECE_BYTES (2 MiB) however big the chunk', async (t) => {
  t.is(PIECE_BYTES, 2 * 1024 * 1024);
  const chunkSize = 64 * 1024 * 1024; // a quarter is 16 MiB: the piece is the limit
  const { primary, appender } = setup(chunkSize);
  primary.hold = true;

  const fill = [record(1), record(1)];
  const pFill = [appender.append(fill[0]!)];
  await primary.callsReached(1);
  pFill.push(appender.append(fill[1]!));
  await primary.callsReached(2);

  const KiB = 1024;
  const records = [512 * KiB, 512 * KiB, 512 * KiB, 512 * KiB, 1, 1024 * KiB, 1024 * KiB + 1].map((n) => record(n));
  const promises = records.map((r) => appender.append(r));
  primary.hold = false;
  while (primary.held.length > 0) primary.releaseOne();
  const offsets = await Promise.all([...pFill, ...promises]);
  await turns();

  t.deepEqual(primary.lengths, [1, 1, PIECE_BYTES, 1024 * KiB + 1, 1024 * KiB + 1]);
  assertInPlace(t, primary, [...fill, ...records], offsets);
});

test('a batch that does not fit is padded, and all of it goes to the next chunk, which later appends go to as well', async (t) => {
  const chunkSize = 4096;
  const { primary, appender, counters } = setup(chunkSize);
  const before = [record(1000), record(1000), record(1000), record(500)];
  const beforeOffsets: number[] = [];
  for (const r of before) beforeOffsets.push(await appender.append(r));
  t.deepEqual(beforeOffsets, [0, 1000, 2000, 3000]);

  const batch = [record(200), record(200), record(200)]; // 600 bytes: 3500 + 600 > 4096
  const offsets = await Promise.all(batch.map((r) => appender.append(r)));
  t.deepEqual(offsets, [4096, 4296, 4496]);
  t.deepEqual(
    primary.calls.slice(4).map((c) => [c.index, c.length, c.result?.padded]),
    [
      [0, 600, true],
      [1, 600, false],
    ],
  );
  t.is(primary.chunks[0]!.length, chunkSize, 'chunk 0 padded to its end');
  t.true(primary.chunks[0]!.subarray(3500).equals(Buffer.alloc(596)), 'nothing of the batch in chunk 0');

  const after = record(100);
  t.is(await appender.append(after), 4696);
  t.is(primary.calls.at(-1)!.index, 1, 'the next append goes straight to chunk 1');
  assertInPlace(t, primary, [...before, ...batch, after], [...beforeOffsets, ...offsets, 4696]);
  t.deepEqual(counters, { batches: 6, records: 8, resent: 0 }, 'a padded batch sent again is still one batch');
});

test('two batches in flight both padded out of a full chunk both go to the next one, never back', async (t) => {
  const chunkSize = 4096;
  const { primary, appender } = setup(chunkSize);
  const before = [record(1000), record(1000), record(1000), record(500)];
  const beforeOffsets: number[] = [];
  for (const r of before) beforeOffsets.push(await appender.append(r));

  primary.hold = true;
  const a = record(600);
  const b = record(700);
  const pa = appender.append(a);
  await primary.callsReached(5);
  const pb = appender.append(b);
  await primary.callsReached(6);
  primary.releaseOne(); // a: padded out of chunk 0, sent again to chunk 1
  await primary.callsReached(7);
  primary.releaseOne(); // b: padded too (chunk 0 is full), sent again to chunk 1
  await primary.callsReached(8);
  primary.hold = false;
  primary.releaseOne();
  primary.releaseOne();
  const offsets = [await pa, await pb];

  t.deepEqual(
    primary.calls.slice(4).map((c) => [c.index, c.length, c.result?.padded]),
    [
      [0, 600, true],
      [0, 700, true],
      [1, 600, false],
      [1, 700, false],
    ],
  );
  t.deepEqual(offsets, [4096, 4696]);
  assertInPlace(t, primary, [...before, a, b], [...beforeOffsets, ...offsets]);
  const c = record(10);
  t.is(await appender.append(c), 5396);
  t.is(primary.calls.at(-1)!.index, 1);
});

test('a failed mutation rejects every record of its batch, and later appends still work', async (t) => {
  const { primary, appender, counters } = setup(4096);
  primary.failNext = 1;
  const failed = [record(10), record(20), record(30)];
  const results = await Promise.allSettled(failed.map((r) => appender.append(r)));
  t.deepEqual(
    results.map((r) => r.status === 'rejected' && (r.reason as Error).message),
    ['primary failed', 'primary failed', 'primary failed'],
  );
  t.deepEqual(primary.lengths, [60]);

  const ok = record(40);
  t.is(await appender.append(ok), 0, 'nothing of the failed batch was written');
  assertInPlace(t, primary, [ok], [0]);
  t.deepEqual(counters, { batches: 2, records: 4, resent: 0 });
});

test('a batch failing while another is in flight rejects only its own records; the waiting ones still go', async (t) => {
  const { primary, appender } = setup(4096);
  primary.hold = true;
  const a = record(100);
  const b = record(50);
  const pa = appender.append(a);
  await primary.callsReached(1);
  const pb = appender.append(b);
  await primary.callsReached(2);
  const waiting = [record(5), record(6)];
  const pWaiting = waiting.map((r) => appender.append(r));
  await turns();

  primary.failOne(new Error('a failed'));
  await t.throwsAsync(pa, { message: 'a failed' });
  await primary.callsReached(3);
  t.deepEqual(primary.lengths, [100, 50, 11], 'the waiting records go once a slot is free');
  primary.releaseOne(); // b
  primary.failOne(new Error('batch failed'));
  for (const p of pWaiting) await t.throwsAsync(p, { message: 'batch failed' });
  t.is(await pb, 0);

  primary.hold = false;
  const c = record(7);
  t.is(await appender.append(c), 50);
  assertInPlace(t, primary, [b, c], [0, 50]);
});

test('counters count batches and records, and resent grows by records × (attempts − 1)', async (t) => {
  const { primary, appender, counters } = setup(4096);
  primary.attempts = 2;
  await Promise.all([record(10), record(10), record(10)].map((r) => appender.append(r)));
  t.deepEqual(counters, { batches: 1, records: 3, resent: 3 });
  await appender.append(record(10));
  t.deepEqual(counters, { batches: 2, records: 4, resent: 4 });
  primary.attempts = 3;
  await Promise.all([record(10), record(10)].map((r) => appender.append(r)));
  t.deepEqual(counters, { batches: 3, records: 6, resent: 8 });

  // Counters are the client's: a second appender adds to the same object.
  const other = new RecordAppender(new FakePrimary(4096) as unknown as ChunkMutator, '/f', 4096, counters);
  await other.append(record(1));
  t.deepEqual(counters, { batches: 4, records: 7, resent: 8 });
});

test('resent counts each mutation sent more than once, a padded one as well (its batch may have landed in the full chunk)', async (t) => {
  const { primary, appender, counters } = setup(4096);
  for (const n of [1000, 1000, 1000, 1000]) await appender.append(record(n));
  t.deepEqual(counters, { batches: 4, records: 4, resent: 0 });
  primary.attempts = 2;
  const offsets = await Promise.all([record(100), record(100)].map((r) => appender.append(r)));
  t.deepEqual(offsets, [4096, 4196]);
  t.deepEqual(counters, { batches: 5, records: 6, resent: 4 });
});
