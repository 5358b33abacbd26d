import test, { type ExecutionContext } from 'ava';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, segmentFileName } from '../../src/storage/journal.js';
import { decodeRecords, encodeRecords, RECORD_HEADER_BYTES } from '../../src/storage/journal-codec.js';
import { OfsError } from '../../src/core/errors.js';

type Rec = { seq: number; type: string; path?: string; n?: number };

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-journal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const rec = (seq: number, extra: Partial<Rec> = {}): Rec => ({ seq, type: 'FileCreated', path: `/f/${seq}`, ...extra });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const seqs = (records: object[]) => records.map((r) => (r as Rec).seq);
const segPath = (dir: string, firstSeq: number) => join(dir, 'journal', segmentFileName(firstSeq));

async function writeJournal(dir: string, records: Rec[], segmentBytes?: number): Promise<void> {
  const { journal } = await Journal.open<Rec>(dir, { segmentBytes, log: () => {} });
  for (const r of records) await journal.append([r]);
  await journal.close();
}

/** Puts raw bytes in place as a segment, for damage and gap cases. */
async function writeSegment(dir: string, firstSeq: number, bytes: Buffer): Promise<void> {
  await mkdir(join(dir, 'journal'), { recursive: true });
  await writeFile(segPath(dir, firstSeq), bytes);
}
const frames = (records: object[]) => encodeRecords(records.map((r) => Buffer.from(JSON.stringify(r))));

async function rejectsCorrupt(t: ExecutionContext, dir: string): Promise<OfsError> {
  const err = await t.throwsAsync(Journal.open(dir, { log: () => {} }), { instanceOf: OfsError });
  t.is(err!.code, 'ECORRUPT');
  return err!;
}

test('empty directory opens empty; records come back on reopen', async (t) => {
  const dir = await tempDir(t);
  const { journal, records } = await Journal.open<Rec>(dir);
  t.deepEqual(records, []);
  t.is(journal.lastSeq(), 0);
  await journal.append([rec(1), rec(2)]);
  await journal.append([rec(3, { type: 'FileDeleted', n: 7 })]);
  t.is(journal.lastSeq(), 3);
  await journal.close();
  const again = await Journal.open<Rec>(dir);
  t.deepEqual(again.records, [rec(1), rec(2), rec(3, { type: 'FileDeleted', n: 7 })]);
  t.is(again.journal.lastSeq(), 3);
  t.is(again.journal.nextSeq(), 4);
  await again.journal.close();
});

test('an empty journal may start at any seq (standby seeded from a checkpoint)', async (t) => {
  const dir = await tempDir(t);
  await writeJournal(dir, [rec(1000), rec(1001)]);
  t.deepEqual(await readdir(join(dir, 'journal')), [segmentFileName(1000)]);
  const { journal, records } = await Journal.open<Rec>(dir);
  t.deepEqual(seqs(records), [1000, 1001]);
  t.is(journal.lastSeq(), 1001);
  await journal.close();
});

test('append refuses a seq that does not continue the journal, and stays usable', async (t) => {
  const dir = await tempDir(t);
  const { journal } = await Journal.open<Rec>(dir);
  await journal.append([rec(1)]);
  for (const bad of [[rec(3)], [rec(1)], [rec(2), rec(4)], [{ seq: 2.5, type: 'x' }]]) {
    const err = await t.throwsAsync(journal.append(bad), { instanceOf: OfsError });
    t.is(err!.code, 'EINVAL');
  }
  await journal.append([rec(2), rec(3)]);
  await journal.close();
  await t.throwsAsync(journal.append([rec(4)]), { instanceOf: OfsError });
  const again = await Journal.open<Rec>(dir);
  t.deepEqual(seqs(again.records), [1, 2, 3]);
  await again.journal.close();
});

// The torn-tail test the brief asks for: every cut point inside the last record.
test('torn last record: every truncation point recovers the records before it', async (t) => {
  const base = await tempDir(t);
  const original = range(1, 5).map((s) => rec(s));
  await writeJournal(join(base, 'whole'), original);
  const whole = await readFile(segPath(join(base, 'whole'), 1));
  const lastStart = decodeRecords(whole).offsets[4]!;
  t.true(whole.length - lastStart > RECORD_HEADER_BYTES);

  for (let cut = lastStart; cut < whole.length; cut++) {
    const dir = join(base, `cut-${cut}`);
    await writeSegment(dir, 1, whole.subarray(0, cut));
    const logs: string[] = [];
    const { journal, records } = await Journal.open<Rec>(dir, { log: (m) => logs.push(m) });
    t.deepEqual(records, original.slice(0, 4), `cut at ${cut}`);
    t.is((await stat(segPath(dir, 1))).size, lastStart, `file truncated to previous record's end (cut ${cut})`);
    if (cut > lastStart) {
      t.is(logs.length, 1);
      t.regex(logs[0]!, new RegExp(`offset ${lastStart}: ${cut - lastStart} bytes removed`));
    } else {
      t.deepEqual(logs, [], 'a cut on a record boundary is a clean end, nothing to report');
    }
    t.is(journal.lastSeq(), 4);
    await journal.append([rec(5, { type: 'Rewritten' })]);
    await journal.close();
    const again = await Journal.open<Rec>(dir, { log: (m) => logs.push(m) });
    t.deepEqual(again.records, [...original.slice(0, 4), rec(5, { type: 'Rewritten' })]);
    t.is(logs.length, cut > lastStart ? 1 : 0, 'the second open finds nothing to cut');
    await again.journal.close();
  }
});

test('torn last record: a bad CRC or zeroed bytes in a complete last record are cut too', async (t) => {
  const base = await tempDir(t);
  await writeJournal(join(base, 'whole'), range(1, 3).map((s) => rec(s)));
  const whole = await readFile(segPath(join(base, 'whole'), 1));
  const lastStart = decodeRecords(whole).offsets[2]!;
  // From the CRC field on: a partly persisted record keeps its length, loses bytes after it.
  for (let at = lastStart + 4; at < whole.length; at++) {
    const dir = join(base, `flip-${at}`);
    const damaged = Buffer.from(whole);
    damaged[at]! ^= 0x40;
    await writeSegment(dir, 1, damaged);
    const logs: string[] = [];
    const { journal, records } = await Journal.open<Rec>(dir, { log: (m) => logs.push(m) });
    t.deepEqual(seqs(records), [1, 2], `flip at ${at}`);
    t.is((await stat(segPath(dir, 1))).size, lastStart);
    t.regex(logs[0] ?? '', /crc32c mismatch/);
    await journal.close();
  }
  // File size extended but data never written: zeros after the last good record.
  const dir = join(base, 'zeros');
  await writeSegment(dir, 1, Buffer.concat([whole, Buffer.alloc(4096)]));
  const { journal, records } = await Journal.open<Rec>(dir, { log: () => {} });
  t.deepEqual(seqs(records), [1, 2, 3]);
  t.is((await stat(segPath(dir, 1))).size, whole.length);
  await journal.close();
});

test('a flipped byte in a middle record: open rejects with ECORRUPT naming file and offset', async (t) => {
  const base = await tempDir(t);
  await writeJournal(join(base, 'whole'), range(1, 5).map((s) => rec(s)));
  const whole = await readFile(segPath(join(base, 'whole'), 1));
  const { offsets } = decodeRecords(whole);
  for (const victim of [0, 2, 3]) {
    const dir = join(base, `victim-${victim}`);
    const damaged = Buffer.from(whole);
    damaged[offsets[victim]! + RECORD_HEADER_BYTES + 3]! ^= 0x01;
    await writeSegment(dir, 1, damaged);
    const err = await rejectsCorrupt(t, dir);
    t.true(err.message.includes(segPath(dir, 1)), err.message);
    t.true(err.message.includes(`byte offset ${offsets[victim]}`), err.message);
    t.is((await stat(segPath(dir, 1))).size, whole.length, 'a corrupt journal is never truncated');
  }
});

test('damage in a segment that is not the last is corruption, even a torn-looking tail', async (t) => {
  const base = await tempDir(t);
  await writeJournal(join(base, 'whole'), range(1, 12).map((s) => rec(s)), 150);
  const names = await readdir(join(base, 'whole', 'journal'));
  t.true(names.length >= 3);
  const first = await readFile(join(base, 'whole', 'journal', names[0]!));
  const { offsets } = decodeRecords(first);

  const cases: { name: string; bytes: Buffer; offset: number }[] = [
    { name: 'cut', bytes: first.subarray(0, first.length - 3), offset: offsets.at(-1)! },
    { name: 'flip', bytes: Buffer.from(first).fill(0x5a, first.length - 2), offset: offsets.at(-1)! },
  ];
  for (const c of cases) {
    const dir = join(base, c.name);
    await mkdir(join(dir, 'journal'), { recursive: true });
    for (const n of names) await writeFile(join(dir, 'journal', n), await readFile(join(base, 'whole', 'journal', n)));
    await writeFile(join(dir, 'journal', names[0]!), c.bytes);
    const err = await rejectsCorrupt(t, dir);
    t.true(err.message.includes(names[0]!), err.message);
    t.true(err.message.includes(`byte offset ${c.offset}`), err.message);
    t.regex(err.message, /not the last/);
  }
});

test('a gap in seq is corruption naming the seq, within and across segments', async (t) => {
  const base = await tempDir(t);
  const within = join(base, 'within');
  await writeSegment(within, 1, frames([rec(1), rec(2), rec(4)]));
  t.regex((await rejectsCorrupt(t, within)).message, /seq 4, expected seq 3/);

  const across = join(base, 'across');
  await writeSegment(across, 1, frames([rec(1), rec(2)]));
  await writeSegment(across, 5, frames([rec(5)]));
  t.regex((await rejectsCorrupt(t, across)).message, /starts at seq 5, expected seq 3/);

  const misnamed = join(base, 'misnamed');
  await writeSegment(misnamed, 1, frames([rec(2)]));
  t.regex((await rejectsCorrupt(t, misnamed)).message, /seq 2, expected seq 1/);
});

test('group commit: 200 appends in one tick share one fsync', async (t) => {
  const dir = await tempDir(t);
  const { journal } = await Journal.open<Rec>(dir);
  let resolvedBeforeDurable = 0;
  await Promise.all(
    range(1, 200).map((s) =>
      journal.append([rec(s)]).then(() => {
        if (journal.lastSeq() < s) resolvedBeforeDurable++;
      }),
    ),
  );
  t.is(resolvedBeforeDurable, 0);
  t.is(journal.stats().syncs, 1);
  t.is(journal.stats().recordsAppended, 200);
  await journal.close();
  const again = await Journal.open<Rec>(dir);
  t.deepEqual(seqs(again.records), range(1, 200));
  await again.journal.close();
});

test('group commit: appends arriving while an fsync is in flight batch into the next one', async (t) => {
  const dir = await tempDir(t);
  const { journal } = await Journal.open<Rec>(dir);
  const pending: Promise<void>[] = [];
  let resolvedBeforeDurable = 0;
  for (const s of range(1, 200)) {
    pending.push(
      journal.append([rec(s)]).then(() => {
        if (journal.lastSeq() < s) resolvedBeforeDurable++;
      }),
    );
    // Callers arrive spread over many event-loop turns, not all at once.
    if (s % 5 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  const { syncs } = journal.stats();
  t.log(`200 staggered appends → ${syncs} fsyncs`);
  t.is(resolvedBeforeDurable, 0);
  t.true(syncs >= 1 && syncs < 50, `syncs = ${syncs}`);
  await journal.close();
  const again = await Journal.open<Rec>(dir);
  t.deepEqual(seqs(again.records), range(1, 200));
  await again.journal.close();
});

test('an empty append resolves once everything before it is durable', async (t) => {
  const dir = await tempDir(t);
  const { journal } = await Journal.open<Rec>(dir);
  void journal.append([rec(1), rec(2)]);
  await journal.append([]);
  t.is(journal.lastSeq(), 2);
  await journal.close();
});

test('segments roll over; readFrom spans them; removeSegmentsBefore drops covered ones', async (t) => {
  const dir = await tempDir(t);
  const segmentBytes = 200;
  const all = range(1, 40).map((s) => rec(s));
  const { journal } = await Journal.open<Rec>(dir, { segmentBytes });
  for (let i = 0; i < all.length; i += 3) await journal.append(all.slice(i, i + 3));

  const names = (await readdir(join(dir, 'journal'))).sort();
  t.true(names.length >= 5, `${names.length} segments`);
  t.is(journal.stats().segments, names.length);
  for (const name of names) {
    const bytes = await readFile(join(dir, 'journal', name));
    t.true(bytes.length <= segmentBytes, `${name} is ${bytes.length} bytes`);
    const first = JSON.parse(decodeRecords(bytes).records[0]!.toString()) as Rec;
    t.is(name, segmentFileName(first.seq), 'a segment is named after its first seq');
  }

  for (const from of [1, 2, 13, 20, 39, 40]) {
    t.deepEqual(await journal.readFrom(from), all.slice(from - 1), `readFrom(${from})`);
  }
  t.deepEqual(await journal.readFrom(41), []);

  const removed = await journal.removeSegmentsBefore(20);
  t.true(removed >= 1);
  const kept = (await readdir(join(dir, 'journal'))).sort();
  const oldest = Number(kept[0]!.slice(0, 20));
  t.true(oldest <= 20, 'the segment holding seq 20 is kept');
  t.deepEqual(await journal.readFrom(20), all.slice(19));
  t.deepEqual(await journal.readFrom(oldest), all.slice(oldest - 1));
  const gone = await t.throwsAsync(journal.readFrom(oldest - 1), { instanceOf: OfsError });
  t.is(gone!.code, 'ENOENT');
  await journal.close();

  const again = await Journal.open<Rec>(dir, { segmentBytes });
  t.deepEqual(seqs(again.records), range(oldest, 40));
  // Everything is covered: still the newest segment stays, so lastSeq survives a restart.
  await again.journal.removeSegmentsBefore(1000);
  t.is((await readdir(join(dir, 'journal'))).length, 1);
  await again.journal.close();
  const third = await Journal.open<Rec>(dir, { segmentBytes });
  t.is(third.journal.lastSeq(), 40);
  await third.journal.append([rec(41)]);
  t.deepEqual(seqs(await third.journal.readFrom(40)), [40, 41]);
  await third.journal.close();
});

test('a last segment whose only record was torn away is kept empty and continues at its seq', async (t) => {
  const dir = await tempDir(t);
  await writeJournal(dir, range(1, 7).map((s) => rec(s)), 120); // two 52-byte records a segment: [1,2] [3,4] [5,6] [7]
  const names = (await readdir(join(dir, 'journal'))).sort();
  const lastName = names.at(-1)!;
  const lastFirst = Number(lastName.slice(0, 20));
  const lastBytes = await readFile(join(dir, 'journal', lastName));
  t.is(decodeRecords(lastBytes).records.length, 1, 'the test wants a one-record last segment');
  await writeFile(join(dir, 'journal', lastName), lastBytes.subarray(0, 5));

  const { journal, records } = await Journal.open<Rec>(dir, { segmentBytes: 120, log: () => {} });
  t.deepEqual(seqs(records), range(1, lastFirst - 1));
  t.is(journal.lastSeq(), lastFirst - 1);
  t.is(journal.nextSeq(), lastFirst);
  t.is((await stat(join(dir, 'journal', lastName))).size, 0);
  await journal.append([rec(lastFirst, { type: 'Again' })]);
  await journal.close();
  const again = await Journal.open<Rec>(dir, { segmentBytes: 120 });
  t.deepEqual(seqs(again.records), range(1, lastFirst));
  t.is((again.records.at(-1) as Rec).type, 'Again');
  await again.journal.close();
});

test('readFrom returns only durable records while appends are in flight', async (t) => {
  const dir = await tempDir(t);
  const { journal } = await Journal.open<Rec>(dir);
  await journal.append([rec(1), rec(2)]);
  const inFlight = journal.append([rec(3), rec(4)]);
  t.deepEqual(seqs(await journal.readFrom(1)), [1, 2]);
  await inFlight;
  t.deepEqual(seqs(await journal.readFrom(1)), [1, 2, 3, 4]);
  await journal.close();
});
