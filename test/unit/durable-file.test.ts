import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileDurably } from '../../src/storage/durable-file.js';
import { OfsError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/chunk-store.js';

test('a length past the bytes makes the file that long, the rest reading as zeros', async (t) => {
  const file = path.join(await tempDir(t), 'f');
  await writeFileDurably(file, Buffer.from('head'), undefined, 10_000);
  const bytes = await fs.readFile(file);
  t.is(bytes.length, 10_000);
  t.is(bytes.subarray(0, 4).toString(), 'head');
  t.true(bytes.subarray(4).every((b) => b === 0));
});

test('a length shorter than the bytes is refused: the old file stays and no temp file is left', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'f');
  await writeFileDurably(file, 'old');
  const err = await t.throwsAsync(writeFileDurably(file, [Buffer.from('new '), Buffer.from('bytes')], undefined, 5), { instanceOf: OfsError });
  t.is(err?.code, 'EINTERNAL');
  t.regex(err?.message ?? '', /a length of 5 bytes would cut off 4 of the 9 written/);
  t.is(await fs.readFile(file, 'utf8'), 'old');
  t.deepEqual(await fs.readdir(dir), ['f']);
});
