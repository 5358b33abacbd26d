import test from 'ava';
import { MetaOrder } from '../../src/storage/meta-order.js';

/** A promise the test settles itself, to control what is still running. */
function held<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}
const tick = () => new Promise((resolve) => setImmediate(resolve));

test('one chunk: operations run one at a time in the order asked; other chunks do not wait', async (t) => {
  const order = new MetaOrder<string>();
  const log: string[] = [];
  const first = held();
  const a1 = order.run('a', async () => (log.push('a1 start'), await first.promise, log.push('a1 end')));
  const a2 = order.run('a', async () => log.push('a2'));
  const b1 = order.run('b', async () => log.push('b1'));
  await b1;
  await tick();
  t.deepEqual(log, ['a1 start', 'b1'], 'a2 waits for a1; b1 does not');
  first.resolve();
  await Promise.all([a1, a2]);
  t.deepEqual(log, ['a1 start', 'b1', 'a1 end', 'a2']);
});

test('syncs asked while one waits to start share it; one asked after it started gets the next', async (t) => {
  const order = new MetaOrder<number>();
  let syncs = 0;
  const blocker = held();
  void order.run('a', () => blocker.promise);
  const s1 = order.sync('a', async () => ++syncs);
  const s2 = order.sync('a', async () => ++syncs);
  t.is(s1, s2, 'the second joins the waiting sync');
  blocker.resolve();
  t.is(await s1, 1);
  const s3 = order.sync('a', async () => ++syncs);
  t.not(s3, s1);
  t.is(await s3, 2);
  t.is(syncs, 2);
});

test('a failed operation does not stop the ones after it, and idle() waits for all', async (t) => {
  const order = new MetaOrder<number>();
  const failing = order.run('a', async () => {
    throw new Error('disk on fire');
  });
  const after = order.run('a', async () => 'ran');
  await t.throwsAsync(failing, { message: 'disk on fire' });
  t.is(await after, 'ran');
  const slow = held();
  let done = false;
  void order.run('c', async () => ((await slow.promise), (done = true)));
  const idle = order.idle().then(() => done);
  slow.resolve();
  t.true(await idle);
});
