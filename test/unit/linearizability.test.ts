import { createHash } from 'node:crypto';
import test from 'ava';
import { checkFsHistory } from '../helpers/history/check-fs-history.js';
import type { FsCall, FsOperation, FsResult } from '../helpers/history/fs-history.js';
import { groupOfPath, randomLinearizableHistory } from '../helpers/history/random-history.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** A history written as [client, invoke, complete | undefined, call, result | undefined] rows. */
function history(...rows: [number, number, number | undefined, FsCall, FsResult | undefined][]): FsOperation[] {
  return rows.map(([client, invoke, complete, call, result], id) => ({ id, client, invoke, complete, call, result }));
}

const write = (path: string, text: string, overwrite = true): FsCall => ({ kind: 'write', path, digest: sha(text), size: text.length, overwrite });
const read = (path: string): FsCall => ({ kind: 'read', path });
const list = (path: string): FsCall => ({ kind: 'list', path });
const mkdir = (path: string): FsCall => ({ kind: 'mkdir', path });
const rename = (from: string, to: string): FsCall => ({ kind: 'rename', from, to });
const remove = (path: string): FsCall => ({ kind: 'delete', path, recursive: false });
const ok: FsResult = { ok: true };
const saw = (text: string): FsResult => ({ ok: true, digest: sha(text) });
const fail = (code: string): FsResult => ({ ok: false, code });
const files = (...names: [string, number][]): FsResult => ({ ok: true, entries: names.map(([name, size]) => ({ name, type: 'file', size })) });

const check = (h: FsOperation[], maxSteps = 1_000_000) => checkFsHistory(h, { groupOf: groupOfPath, seed: 42, budget: { maxSteps } });

test('a sequential history of writes, reads, renames, lists and deletes is linearizable', (t) => {
  const { verdict, report } = check(
    history(
      [0, 0, 1, write('/g/a', 'one'), ok],
      [1, 2, 3, read('/g/a'), saw('one')],
      [0, 4, 5, rename('/g/a', '/g/b'), ok],
      [1, 6, 7, read('/g/b'), saw('one')],
      [1, 8, 9, read('/g/a'), fail('ENOENT')],
      [0, 10, 11, list('/g'), files(['b', 3])],
      [0, 12, 13, mkdir('/g/b/x'), fail('ENOTDIR')],
      [1, 14, 15, write('/g/b', 'two', false), fail('EEXIST')],
      [1, 16, 17, remove('/g/b'), ok],
      [0, 18, 19, list('/g'), files()],
    ),
  );
  t.is(verdict.kind, 'linearizable', report);
});

test('overlapping operations may take effect in either order; a read during a write may see anything, and after it the bytes written', (t) => {
  const { verdict, report } = check(
    history(
      [0, 0, 10, write('/g/a', 'one'), ok],
      [1, 1, 2, read('/g/a'), fail('ENOENT')], // before the create
      [2, 3, 4, read('/g/a'), saw('half of one')], // the bytes are undefined until the write is done
      [1, 11, 12, read('/g/a'), saw('one')],
      [0, 13, 20, write('/g/a', 'two'), ok],
      [1, 14, 15, read('/g/a'), saw('one')], // the replacement may not have begun
      [2, 14, 16, rename('/g/a', '/g/c'), fail('ENOENT')], // nor ...
      [1, 21, 22, read('/g/a'), saw('two')],
    ),
  );
  // The rename's ENOENT needs /g/a missing at some point in [14, 16], which never happens: a negative control.
  t.is(verdict.kind, 'not-linearizable', report);
  const fixed = check(
    history(
      [0, 0, 10, write('/g/a', 'one'), ok],
      [1, 1, 2, read('/g/a'), fail('ENOENT')],
      [2, 3, 4, read('/g/a'), saw('half of one')],
      [1, 11, 12, read('/g/a'), saw('one')],
      [0, 13, 20, write('/g/a', 'two'), ok],
      [1, 14, 15, read('/g/a'), saw('one')],
      [2, 14, 16, rename('/g/a', '/g/c'), ok], // took effect before the replacement's create
      [1, 17, 18, read('/g/c'), saw('one')],
      [1, 21, 22, read('/g/a'), saw('two')],
    ),
  );
  t.is(fixed.verdict.kind, 'linearizable', fixed.report);
});

test('two concurrent renames of one name: one wins, the other finds it gone', (t) => {
  const { verdict, report } = check(
    history(
      [0, 0, 1, write('/g/a', 'one'), ok],
      [1, 2, 5, rename('/g/a', '/g/b'), fail('ENOENT')],
      [2, 2, 5, rename('/g/a', '/g/c'), ok],
      [0, 6, 7, list('/g'), files(['c', 3])],
    ),
  );
  t.is(verdict.kind, 'linearizable', report);
});

test('an operation with no answer may take effect long after its invoke, or never', (t) => {
  const took = check(
    history(
      [0, 0, undefined, write('/g/a', 'one'), undefined],
      [1, 50, 51, read('/g/a'), fail('ENOENT')],
      [1, 60, 61, list('/g'), files(['a', 0])],
      [1, 70, 71, read('/g/a'), saw('anything: a failed write leaves it inconsistent')],
      [1, 72, 73, read('/g/a'), saw('anything else')],
    ),
  );
  t.is(took.verdict.kind, 'linearizable', took.report);
  const never = check(history([0, 0, undefined, mkdir('/g/d'), fail('EUNAVAILABLE')], [1, 50, 51, list('/g'), files()]));
  t.is(never.verdict.kind, 'linearizable', never.report);
  const undone = check(
    history([0, 0, undefined, mkdir('/g/d'), undefined], [1, 50, 51, list('/g'), { ok: true, entries: [{ name: 'd', type: 'dir', size: 0 }] }], [1, 60, 61, list('/g'), files()]),
  );
  t.is(undone.verdict.kind, 'not-linearizable', 'once seen, an unanswered mkdir cannot be undone');
});

test('writes that raced and succeeded leave bytes that are undefined but the same for every reader', (t) => {
  const raced = (second: string) =>
    check(
      history(
        [0, 0, 10, write('/g/a', 'one'), ok],
        [1, 1, 11, write('/g/a', 'two'), ok],
        [2, 12, 13, read('/g/a'), saw('a mix of one and two')],
        [2, 14, 15, read('/g/a'), saw(second)],
      ),
    );
  t.is(raced('a mix of one and two').verdict.kind, 'linearizable');
  t.is(raced('two').verdict.kind, 'not-linearizable', 'consistent: a second reader sees the same bytes');
});

test('rejects a stale read after an acknowledged write, and prints a small window with the seed', (t) => {
  const { verdict, report } = check(
    history(
      [0, 0, 1, write('/g/a', 'one'), ok],
      [2, 0, 1, write('/g/b', 'other'), ok],
      [1, 2, 3, write('/g/a', 'two'), ok],
      [2, 2, 3, read('/g/b'), saw('other')],
      [2, 3.5, 3.6, list('/g'), files(['a', 3], ['b', 5])],
      [0, 4, 5, read('/g/a'), saw('one')],
      [2, 6, 7, read('/g/b'), saw('other')],
    ),
  );
  t.is(verdict.kind, 'not-linearizable');
  t.log(report);
  t.regex(report, /seed 42/);
  const window = verdict.failure!.window;
  const operations = new Set(window.map((op) => op.id)).size;
  t.true(operations <= 3, `a window of ${operations} operations`);
  t.true(
    window.some((op) => op.call.kind === 'read' && op.result?.ok && (op.result as { digest?: string }).digest === sha('one')),
    'the window holds the stale read',
  );
});

test('rejects a read of bytes never written', (t) => {
  const { verdict } = check(history([0, 0, 1, write('/g/a', 'one'), ok], [1, 2, 3, read('/g/a'), saw('never written')]));
  t.is(verdict.kind, 'not-linearizable');
});

test('rejects a lost acknowledged create', (t) => {
  t.is(check(history([0, 0, 1, mkdir('/g/d'), ok], [1, 2, 3, list('/g'), files()])).verdict.kind, 'not-linearizable');
  t.is(check(history([0, 0, 1, write('/g/a', 'one'), ok], [1, 2, 3, read('/g/a'), fail('ENOENT')])).verdict.kind, 'not-linearizable');
});

test('rejects a rename seen half done: both names, or neither', (t) => {
  const seen = (listing: FsResult) =>
    check(history([0, 0, 1, write('/g/a', 'one'), ok], [0, 2, 5, rename('/g/a', '/g/b'), ok], [1, 3, 4, list('/g'), listing])).verdict.kind;
  t.is(seen(files(['a', 3])), 'linearizable');
  t.is(seen(files(['b', 3])), 'linearizable');
  t.is(seen(files(['a', 3], ['b', 3])), 'not-linearizable');
  t.is(seen(files()), 'not-linearizable');
});

test('rejects a defined file listed with the wrong size, or an error the master would not give', (t) => {
  t.is(check(history([0, 0, 1, write('/g/a', 'one'), ok], [1, 2, 3, list('/g'), files(['a', 2])])).verdict.kind, 'not-linearizable');
  t.is(check(history([0, 0, 1, write('/g/a', 'one'), ok], [1, 2, 3, remove('/g/a'), fail('ENOTEMPTY')])).verdict.kind, 'not-linearizable');
});

test('a search that runs out of budget says unknown, never linearizable', (t) => {
  const h = randomLinearizableHistory({ seed: 7, operations: 200, clients: 8, groups: 1 });
  const { verdict, report } = check(h, 20);
  t.is(verdict.kind, 'unknown');
  t.regex(report, /^unknown: budget exhausted/);
});

test('random linearizable histories are accepted (2,000 operations, 8 clients, 10 groups: the time is logged)', (t) => {
  for (const seed of [1, 2, 3]) {
    const h = randomLinearizableHistory({ seed, operations: 2_000, clients: 8, groups: 10, unanswered: 0.02 });
    const started = process.hrtime.bigint();
    const { verdict, report, readsHeld } = check(h);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    t.is(verdict.kind, 'linearizable', `seed ${seed}: ${report}`);
    t.true(readsHeld > 100, `only ${readsHeld} reads were held to known bytes`);
    const steps = verdict.partitions.reduce((n, p) => n + p.verdict.steps, 0);
    t.log(`seed ${seed}: ${h.length} operations checked in ${ms.toFixed(0)} ms (${steps} search steps, ${readsHeld} reads held to known bytes)`);
  }
});

test('a listing that misses an acknowledged file shrinks to the write and the listing\'s look at that one name', (t) => {
  const { verdict, report } = check(
    history(
      [0, 0, 1, write('/g/a', 'one'), ok],
      [1, 0, 1, write('/g/b', 'two'), ok],
      [2, 0, 1, mkdir('/g/d'), ok],
      [0, 2, 3, write('/g/c', 'three'), ok],
      [1, 2, 4, rename('/g/b', '/g/d/b'), ok],
      [2, 3, 5, read('/g/a'), saw('one')],
      [0, 6, 7, list('/g'), { ok: true, entries: [{ name: 'a', type: 'file', size: 3 }, { name: 'd', type: 'dir', size: 0 }] }],
    ),
  );
  t.is(verdict.kind, 'not-linearizable');
  t.log(report);
  t.deepEqual([...new Set(verdict.failure!.window.map((op) => op.id))].sort(), [3, 6]);
  t.regex(report, /list \/g \(its entry c\) → ok \[\]/);
});

test('a write refused in its bytes\' phase (its file replaced under it) made the file, and what it touched is inconsistent', (t) => {
  const replaced = check(
    history(
      [0, 0, 10, write('/g/a', 'three hundred thousand bytes'), fail('EINVAL')], // the final size no longer fits the new file
      [1, 1, 9, write('/g/a', 'one'), ok],
      [2, 11, 12, read('/g/a'), saw('one, and bytes of the other')],
      [2, 13, 14, read('/g/a'), saw('one')],
    ),
  );
  t.is(replaced.verdict.kind, 'linearizable', replaced.report);
  const alone = check(history([0, 0, 10, write('/g/a', 'one'), fail('ENOENT')], [1, 11, 12, list('/g'), files()]));
  t.is(alone.verdict.kind, 'not-linearizable', 'nothing took /g/a away: its create made it');
});
