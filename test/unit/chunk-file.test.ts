import test, { type ExecutionContext } from 'ava';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkFile } from '../../src/storage/chunk-file.js';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-chunk-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('writeNew and extend make a new file: the bytes where written, the length set, the rest a hole that reads as zeros', async (t) => {
  const path = join(await tempDir(t), 'a.meta');
  const file = ChunkFile.open(path, 'w+');
  t.teardown(() => file.close());
  const head = Buffer.from('header bytes');
  const slot = Buffer.from('a slot far out');
  file.writeNew(head, 0);
  file.extend(1024 * 1024);
  file.writeNew(slot, 512 * 1024);
  await file.datasync();

  const bytes = await readFile(path);
  t.is(bytes.length, 1024 * 1024);
  t.true(bytes.subarray(0, head.length).equals(head));
  t.true(bytes.subarray(512 * 1024, 512 * 1024 + slot.length).equals(slot));
  t.is(bytes.subarray(head.length, 512 * 1024).filter((b) => b !== 0).length, 0, 'between them, zeros');
  // A hole takes no disk: a few blocks for the two pages written, not a MiB.
  t.true((await stat(path)).blocks * 512 < 256 * 1024, `${(await stat(path)).blocks} blocks of 512 bytes`);

  const back = Buffer.alloc(slot.length);
  t.is((await file.read(back, 0, back.length, 512 * 1024)).bytesRead, slot.length);
  t.true(back.equals(slot));
});

test("'w+' empties a file already there; 'r+' and 'r' open it as it is, and 'r' refuses writes", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'a.data');
  await writeFile(path, 'old bytes');
  const reader = ChunkFile.open(path, 'r');
  const buf = Buffer.alloc(16);
  t.is((await reader.read(buf, 0, 16, 0)).bytesRead, 9);
  await t.throwsAsync(reader.write(Buffer.from('x'), 0, 1, 0), { code: 'EBADF' });
  reader.close();
  const writer = ChunkFile.open(path, 'r+');
  await writer.write(Buffer.from('new'), 0, 3, 0);
  writer.close();
  t.is(await readFile(path, 'utf8'), 'new bytes');
  ChunkFile.open(path, 'w+').close();
  t.is((await readFile(path)).length, 0);
  t.throws(() => ChunkFile.open(join(dir, 'missing'), 'r+'), { code: 'ENOENT' });
});

test('once closed, every call fails EBADF and none reaches the file that took its fd number since', async (t) => {
  const dir = await tempDir(t);
  const closed = ChunkFile.open(join(dir, 'closed'), 'w+');
  closed.close();
  // The kernel hands out the lowest free fd: this one most likely has the number the closed file had.
  const other = join(dir, 'other');
  await writeFile(other, 'untouched');
  const fd = openSync(other, 'r+');
  t.teardown(() => closeSync(fd));

  t.throws(() => closed.writeNew(Buffer.from('XX'), 0), { code: 'EBADF' });
  t.throws(() => closed.extend(1), { code: 'EBADF' });
  t.throws(() => closed.close(), { code: 'EBADF' });
  await t.throwsAsync(closed.write(Buffer.from('XX'), 0, 2, 0), { code: 'EBADF' });
  await t.throwsAsync(closed.read(Buffer.alloc(2), 0, 2, 0), { code: 'EBADF' });
  await t.throwsAsync(closed.truncate(0), { code: 'EBADF' });
  await t.throwsAsync(closed.datasync(), { code: 'EBADF' });
  t.is(await readFile(other, 'utf8'), 'untouched');
});
