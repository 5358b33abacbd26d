import test from 'ava';
import { CoalescedSync } from '../../src/storage/coalesced-sync.js';

/** A sync whose runs the test ends by hand, recording which callers' changes each run could cover. */
function manualSync() {
  const runs: { started: number; finish: () => void; fail: (err: Error) => void }[] = [];
  let changes = 0;
  const sync = new CoalescedSync(
    () =>
      new Promise<void>((resolve, reject) => {
        runs.push({ started: changes, finish: resolve, fail: reject });
      }),
  );
  return { sync, runs, change: () => ++changes };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('callers who ask while a run is under way share the next run, which starts only after it', async (t) => {
  const { sync, runs, change } = manualSync();
  change();
  const first = sync.sync();
  await tick();
  t.is(runs.length, 1);
  // Changes made after the first run started: only a later run covers them.
  const later = [1, 2, 3].map(() => (change(), sync.sync()));
  await tick();
  t.is(runs.length, 1, 'no second run while the first is under way');
  runs[0]!.finish();
  await first;
  await tick();
  t.is(runs.length, 2, 'one more run for all three');
  t.is(runs[1]!.started, 4, 'and it started after every change it covers');
  runs[1]!.finish();
  await Promise.all(later);
  await tick();
  t.is(runs.length, 2);
});

test('a failed run fails its callers; the next caller gets a fresh run', async (t) => {
  const { sync, runs } = manualSync();
  const first = sync.sync();
  const second = sync.sync();
  await tick();
  runs[0]!.fail(new Error('EIO'));
  await t.throwsAsync(first, { message: 'EIO' });
  await tick();
  t.is(runs.length, 2, 'the waiting caller still gets a run of its own');
  runs[1]!.finish();
  await second;
  const third = sync.sync();
  await tick();
  t.is(runs.length, 3);
  runs[2]!.finish();
  await third;
});
