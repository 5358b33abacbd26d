import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChunkFile } from '../../src/storage/chunk-file.js';
import { OpenFiles } from '../../src/storage/open-files.js';

/** A promise with its resolve outside, so a test decides when a callback goes on. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A fresh temp dir, removed when the test ends; `file(name)` creates a file in it (empty unless given content). */
async function tempFiles(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-open-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return {
    dir,
    file: async (name: string, content = '') => {
      const path = join(dir, name);
      await writeFile(path, content);
      return path;
    },
  };
}

/** A closed ChunkFile rejects any read with EBADF (never reaching a file that reused its fd). */
async function assertClosed(t: ExecutionContext, handle: ChunkFile, what: string) {
  await t.throwsAsync(handle.read(Buffer.alloc(1), 0, 1, 0), { code: 'EBADF' }, `${what}: a read on it fails with EBADF`);
}

async function assertOpen(t: ExecutionContext, handle: ChunkFile, what: string) {
  await t.notThrowsAsync(handle.read(Buffer.alloc(1), 0, 1, 0), `${what}: a read on it works`);
}

const readAll = async (handle: ChunkFile, length: number) => {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buf, 0, length, 0);
  return buf.subarray(0, bytesRead).toString();
};

test('a second use of a path reuses the same handle, and sees the bytes the first wrote through it', async (t) => {
  const { file } = await tempFiles(t);
  const path = await file('a');
  const files = new OpenFiles(4);
  t.teardown(() => files.closeAll());

  const first = await files.use(path, async (handle) => {
    await handle.write(Buffer.from('hello'), 0, 5, 0);
    return { handle };
  });
  const second = await files.use(path, async (handle) => ({ handle, text: await readAll(handle, 16) }));

  t.is(second.handle, first.handle, 'the same ChunkFile');
  t.is(second.text, 'hello');
  // Still open while idle: it is kept between uses.
  await assertOpen(t, first.handle, 'the idle handle');
});

test('the value (or error) of the callback is what use resolves (or rejects) with, and a failing callback keeps the handle', async (t) => {
  const { file } = await tempFiles(t);
  const path = await file('a', 'xyz');
  const files = new OpenFiles(4);
  t.teardown(() => files.closeAll());

  t.is(await files.use(path, async () => 42), 42);
  let seen: ChunkFile | undefined;
  await t.throwsAsync(
    files.use(path, async (handle) => {
      seen = handle;
      throw new Error('boom');
    }),
    { message: 'boom' },
  );
  const after = await files.use(path, async (handle) => handle);
  t.is(after, seen!, 'a callback that threw did not cost the handle');
  await assertOpen(t, after, 'the handle');
});

test('concurrent uses of one path share one open', async (t) => {
  const { file } = await tempFiles(t);
  const path = await file('a', 'abc');
  const files = new OpenFiles(4);
  t.teardown(() => files.closeAll());

  const gate = deferred();
  let waiting = 0;
  const allWaiting = deferred();
  const uses = [0, 1, 2].map((i) =>
    files.use(path, async (handle) => {
      if (++waiting === 3) allWaiting.resolve();
      await gate.promise;
      t.is(await readAll(handle, 3), 'abc', `user ${i} reads`);
      return handle;
    }),
  );
  // All three are inside their callbacks at once: the handle was shared, not opened three times in turn.
  await allWaiting.promise;
  gate.resolve();
  const handles = await Promise.all(uses);
  t.is(handles[1], handles[0]);
  t.is(handles[2], handles[0]);
  await assertOpen(t, handles[0]!, 'the shared handle, idle after all three');
});

test('at most max idle handles stay open: after using max+2 files the least recently used two are closed', async (t) => {
  const { file } = await tempFiles(t);
  const max = 3;
  const files = new OpenFiles(max);
  t.teardown(() => files.closeAll());

  const paths = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => file(name, name)));
  const handles: ChunkFile[] = [];
  for (const path of paths) handles.push(await files.use(path, async (handle) => handle));

  await assertClosed(t, handles[0]!, 'a (least recently used)');
  await assertClosed(t, handles[1]!, 'b');
  for (const i of [2, 3, 4]) await assertOpen(t, handles[i]!, `file ${i}`);

  // A closed one is opened again on its next use (a new handle), which evicts the now least recent (c).
  const again = await files.use(paths[0]!, async (handle) => ({ handle, text: await readAll(handle, 1) }));
  t.not(again.handle, handles[0]);
  t.is(again.text, 'a');
  await assertClosed(t, handles[2]!, 'c, now the least recently used');
  await assertOpen(t, handles[3]!, 'd');
  await assertOpen(t, handles[4]!, 'e');
});

test('eviction is by last use, not by first open', async (t) => {
  const { file } = await tempFiles(t);
  const files = new OpenFiles(2);
  t.teardown(() => files.closeAll());

  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => file(name)));
  const ha = await files.use(a!, async (h) => h);
  const hb = await files.use(b!, async (h) => h);
  t.is(await files.use(a!, async (h) => h), ha, 'a used again, reusing its handle');
  const hc = await files.use(c!, async (h) => h);

  await assertClosed(t, hb, 'b, the least recently used');
  await assertOpen(t, ha, 'a, used after b');
  await assertOpen(t, hc, 'c');
});

test('close() while the handle is in use: the user can still write and read, and the handle closes once it is done', async (t) => {
  const { file } = await tempFiles(t);
  const path = await file('a');
  const files = new OpenFiles(4);
  t.teardown(() => files.closeAll());

  const inside = deferred<ChunkFile>();
  const goOn = deferred();
  const using = files.use(path, async (handle) => {
    inside.resolve(handle);
    await goOn.promise;
    await handle.write(Buffer.from('still here'), 0, 10, 0);
    return readAll(handle, 32);
  });

  const handle = await inside.promise;
  files.close(path); // returns without closing the handle in use
  await assertOpen(t, handle, 'the handle in use after close()');

  goOn.resolve();
  t.is(await using, 'still here', 'the callback wrote and read after close()');
  await assertClosed(t, handle, 'the handle once its user is done');

  // The next use opens the file afresh, and sees what was written.
  const next = await files.use(path, async (h) => ({ h, text: await readAll(h, 32) }));
  t.not(next.h, handle);
  t.is(next.text, 'still here');
});

test('a handle in use is not evicted by uses of other files beyond max; it is closed after its user is done only if beyond max', async (t) => {
  const { file } = await tempFiles(t);
  const files = new OpenFiles(1);
  t.teardown(() => files.closeAll());

  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => file(name)));
  const inside = deferred<ChunkFile>();
  const goOn = deferred();
  const using = files.use(a!, async (handle) => {
    inside.resolve(handle);
    await goOn.promise;
    await handle.write(Buffer.from('a!'), 0, 2, 0);
    return readAll(handle, 8);
  });
  const ha = await inside.promise;

  const hb = await files.use(b!, async (h) => h);
  const hc = await files.use(c!, async (h) => h);
  await assertOpen(t, ha, 'a, in use, after two other files were used with max 1');
  await assertClosed(t, hb, 'b, idle beyond max');
  await assertClosed(t, hc, 'c, idle beyond max');

  goOn.resolve();
  t.is(await using, 'a!');
  // a is now the only one open: within max, so it stays.
  await assertOpen(t, ha, 'a, idle and within max');
  t.is(await files.use(a!, async (h) => h), ha);
});

test('a path that fails to open rejects, and is not a cached failure: once the file exists the next use works', async (t) => {
  const { dir, file } = await tempFiles(t);
  const path = join(dir, 'later');
  const files = new OpenFiles(4);
  t.teardown(() => files.closeAll());

  let ran = false;
  await t.throwsAsync(
    files.use(path, async () => {
      ran = true;
    }),
    { code: 'ENOENT' },
  );
  t.false(ran, 'the callback does not run without a handle');

  await file('later', 'now it exists');
  t.is(await files.use(path, (h) => readAll(h, 64)), 'now it exists');
});

test('concurrent uses of a path that fails to open all reject; the next one opens it', async (t) => {
  const { dir, file } = await tempFiles(t);
  const path = join(dir, 'later');
  const files = new OpenFiles(4);
  t.teardown(() => files.closeAll());

  const results = await Promise.allSettled([files.use(path, async () => 1), files.use(path, async () => 2)]);
  t.deepEqual(
    results.map((r) => r.status === 'rejected' && (r.reason as NodeJS.ErrnoException).code),
    ['ENOENT', 'ENOENT'],
  );
  await file('later', 'x');
  t.is(await files.use(path, (h) => readAll(h, 8)), 'x');
});

test('closeAll() closes every idle handle, and later uses open them again', async (t) => {
  const { file } = await tempFiles(t);
  const files = new OpenFiles(8);

  const paths = await Promise.all(['a', 'b', 'c'].map((name) => file(name, name)));
  const handles: ChunkFile[] = [];
  for (const path of paths) handles.push(await files.use(path, async (h) => h));
  for (const [i, h] of handles.entries()) await assertOpen(t, h, `file ${i} before closeAll`);

  files.closeAll();
  for (const [i, h] of handles.entries()) await assertClosed(t, h, `file ${i} after closeAll`);

  const again = await files.use(paths[1]!, async (h) => ({ h, text: await readAll(h, 8) }));
  t.not(again.h, handles[1]);
  t.is(again.text, 'b');
  files.closeAll();
  await assertClosed(t, again.h, 'the reopened handle after a second closeAll');
});

test('closeAll() leaves a handle in use to its user, who closes it when done', async (t) => {
  const { file } = await tempFiles(t);
  const files = new OpenFiles(8);
  const [a, b] = await Promise.all(['a', 'b'].map((name) => file(name, name)));

  const hb = await files.use(b!, async (h) => h);
  const inside = deferred<ChunkFile>();
  const goOn = deferred();
  const using = files.use(a!, async (handle) => {
    inside.resolve(handle);
    await goOn.promise;
    return readAll(handle, 8);
  });
  const ha = await inside.promise;

  files.closeAll();
  await assertClosed(t, hb, 'the idle handle');
  await assertOpen(t, ha, 'the handle in use');
  goOn.resolve();
  t.is(await using, 'a');
  await assertClosed(t, ha, 'the handle once its user is done');
});
