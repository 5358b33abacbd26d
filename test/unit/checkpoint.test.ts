import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkpointFileName,
  decodeCheckpoint,
  encodeCheckpoint,
  loadNewestCheckpoint,
  writeCheckpoint,
} from '../../src/storage/checkpoint.js';
import { OfsError } from '../../src/core/errors.js';
import { legacyCheckpointBytes } from '../helpers/legacy-checkpoint.js';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-checkpoint-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
/** A state as pieces: a header, then two bounded lists. */
const state = (n: number): unknown[] => [{ n }, [`/f${n}`, n], [n + 1]];
/** Reads every piece, as a loader must. */
const collect = async (pieces: AsyncIterable<unknown>): Promise<unknown[]> => {
  const all: unknown[] = [];
  for await (const piece of pieces) all.push(piece);
  return all;
};
const ckptPath = (dir: string, seq: number) => join(dir, 'checkpoints', checkpointFileName(seq));

test('encode/decode round trip, and every kind of damage is ECORRUPT', async (t) => {
  const bytes = encodeCheckpoint(42, state(1));
  t.deepEqual(await decodeCheckpoint(bytes), { seq: 42, pieces: state(1) });
  const endFrame = encodeCheckpoint(42, []).length - encodeCheckpoint(42, []).indexOf('{"end"') + 8;
  const damaged: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['header cut', bytes.subarray(0, 10)],
    ['payload cut', bytes.subarray(0, bytes.length - 1)],
    ['extended', Buffer.concat([bytes, Buffer.from('x')])],
    ['bad magic', Buffer.concat([Buffer.from('NOTCKPT1'), bytes.subarray(8)])],
    ['cut at a frame boundary, before the end frame', bytes.subarray(0, bytes.length - endFrame)],
    ['flipped payload byte', Buffer.from(bytes).fill(0x20, bytes.length - 3, bytes.length - 2)],
    ['flipped crc', Buffer.from(bytes).fill(0, 16, 17)],
  ];
  for (const [name, buf] of damaged) {
    const err = await t.throwsAsync(decodeCheckpoint(buf), { instanceOf: OfsError }, name);
    t.is(err?.code, 'ECORRUPT', name);
  }
});

test('a checkpoint an older OFS wrote (OFSCKPT1, one JSON payload) loads as one piece', async (t) => {
  const bytes = legacyCheckpointBytes(7, { legacy: true });
  const dir = await tempDir(t);
  await mkdir(join(dir, 'checkpoints'));
  await writeFile(ckptPath(dir, 7), bytes);
  t.deepEqual(await loadNewestCheckpoint(dir, collect), { seq: 7, state: [{ legacy: true }], path: ckptPath(dir, 7) });
  await writeFile(ckptPath(dir, 7), bytes.subarray(0, bytes.length - 1));
  t.is(await loadNewestCheckpoint(dir, collect, { log: () => undefined }), undefined);
});

test('no checkpoint directory, or an empty one, loads undefined', async (t) => {
  const dir = await tempDir(t);
  t.is(await loadNewestCheckpoint(dir, collect), undefined);
  await writeCheckpoint(dir, 1, state(1));
  await rm(ckptPath(dir, 1));
  t.is(await loadNewestCheckpoint(dir, collect), undefined);
});

test('writes atomically, keeps the newest two, loads the newest', async (t) => {
  const dir = await tempDir(t);
  for (const seq of [10, 20, 30, 40]) {
    t.is(await writeCheckpoint(dir, seq, state(seq)), ckptPath(dir, seq));
  }
  t.deepEqual((await readdir(join(dir, 'checkpoints'))).sort(), [checkpointFileName(30), checkpointFileName(40)]);
  t.deepEqual(await loadNewestCheckpoint(dir, collect), { seq: 40, state: state(40), path: ckptPath(dir, 40) });
});

test('a corrupted or truncated newest checkpoint is skipped with a log line', async (t) => {
  for (const damage of ['flip', 'truncate', 'garbage'] as const) {
    const dir = await tempDir(t);
    await writeCheckpoint(dir, 100, state(100));
    await writeCheckpoint(dir, 200, state(200));
    const newest = ckptPath(dir, 200);
    if (damage === 'flip') {
      const bytes = await readFile(newest);
      bytes[bytes.length - 5]! ^= 0x08;
      await writeFile(newest, bytes);
    } else if (damage === 'truncate') {
      await truncate(newest, 30);
    } else {
      await writeFile(newest, 'not a checkpoint');
    }
    const logs: string[] = [];
    const loaded = await loadNewestCheckpoint(dir, collect, { log: (m) => logs.push(m) });
    t.is(loaded?.seq, 100, damage);
    t.deepEqual(loaded?.state, state(100));
    t.is(logs.length, 1);
    t.true(logs[0]!.includes(newest), logs[0]);
  }
});

test('all checkpoints damaged loads undefined, logging each', async (t) => {
  const dir = await tempDir(t);
  await writeCheckpoint(dir, 1, state(1));
  await writeCheckpoint(dir, 2, state(2));
  await truncate(ckptPath(dir, 1), 3);
  await truncate(ckptPath(dir, 2), 3);
  const logs: string[] = [];
  t.is(await loadNewestCheckpoint(dir, collect, { log: (m) => logs.push(m) }), undefined);
  t.is(logs.length, 2);
});

test('a file renamed to claim a newer seq is not trusted', async (t) => {
  const dir = await tempDir(t);
  await writeCheckpoint(dir, 5, state(5));
  await writeFile(ckptPath(dir, 9), encodeCheckpoint(7, state(7)));
  const logs: string[] = [];
  t.is((await loadNewestCheckpoint(dir, collect, { log: (m) => logs.push(m) }))?.seq, 5);
  t.regex(logs[0] ?? '', /says seq 7, its name says 9/);
});

test('leftover temp files are ignored by load and removed by the next write', async (t) => {
  const dir = await tempDir(t);
  await writeCheckpoint(dir, 1, state(1));
  const leftover = `${ckptPath(dir, 2)}.tmp-999-deadbeef`;
  await writeFile(leftover, encodeCheckpoint(2, state(2)).subarray(0, 20));
  t.is((await loadNewestCheckpoint(dir, collect))?.seq, 1);
  await writeCheckpoint(dir, 3, state(3));
  t.deepEqual((await readdir(join(dir, 'checkpoints'))).sort(), [checkpointFileName(1), checkpointFileName(3)]);
});

test('a checkpoint never goes backwards; the same seq may be rewritten', async (t) => {
  const dir = await tempDir(t);
  await writeCheckpoint(dir, 50, state(50));
  const err = await t.throwsAsync(writeCheckpoint(dir, 49, state(49)), { instanceOf: OfsError });
  t.is(err!.code, 'EINVAL');
  await writeCheckpoint(dir, 50, [{ rewritten: true }]);
  t.deepEqual((await loadNewestCheckpoint(dir, collect))?.state, [{ rewritten: true }]);
});

test('overlapping writes to one directory are serialized', async (t) => {
  const dir = await tempDir(t);
  await Promise.all([1, 2, 3, 4, 5].map((seq) => writeCheckpoint(dir, seq, state(seq))));
  t.deepEqual((await readdir(join(dir, 'checkpoints'))).sort(), [checkpointFileName(4), checkpointFileName(5)]);
  t.is((await loadNewestCheckpoint(dir, collect))?.seq, 5);
});
