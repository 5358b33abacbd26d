import test from 'ava';
import { OfsError } from '../../src/core/errors.js';
import { retry } from '../../src/util/retry.js';

const unavailable = () => new OfsError('EUNAVAILABLE', 'no master yet');

/** Fails `failures` times, then answers; records when each attempt started. */
function flaky(failures: number): { attempt: () => Promise<string>; startedAt: number[] } {
  const startedAt: number[] = [];
  return {
    startedAt,
    attempt: async () => {
      startedAt.push(Date.now());
      if (startedAt.length <= failures) throw unavailable();
      return 'ok';
    },
  };
}

/** What MasterLink does: wake-up functions registered per wait, woken by an event, withdrawn when the wait ends. */
class Sleepers {
  readonly waiting = new Set<() => void>();
  registered = 0;
  readonly wake = (wakeUp: () => void): (() => void) => {
    this.registered++;
    this.waiting.add(wakeUp);
    return () => void this.waiting.delete(wakeUp);
  };
  fire(): void {
    for (const wakeUp of [...this.waiting]) wakeUp();
  }
}

test('retry: a wake cuts the back-off short, and the back-off starts over from its first delay', async (t) => {
  const { attempt, startedAt } = flaky(2);
  const sleepers = new Sleepers();
  setTimeout(() => sleepers.fire(), 50);
  const result = await retry(attempt, {
    deadline: () => Date.now() + 60_000,
    // Doubling from 1 s: only the wake ends the first wait early; after it, the second wait is 1 s again, not 2.
    backoff: { initialMs: 1_000, maxMs: 60_000, jitter: 0 },
    wake: sleepers.wake,
  });
  t.is(result, 'ok');
  t.is(startedAt.length, 3);
  const [first, second, third] = startedAt as [number, number, number];
  t.true(second - first < 700, `the wake ended the first wait after ${second - first} ms`);
  t.true(third - second >= 950 && third - second < 1_800, `the second wait took ${third - second} ms: the back-off started over`);
  t.is(sleepers.registered, 2, 'each wait registers a wake-up');
  t.is(sleepers.waiting.size, 0, 'and withdraws it when it ends');
});

test('retry: a wake-up given at once ends the wait at once; one that does not come leaves the back-off as it was', async (t) => {
  const now = flaky(1);
  await retry(now.attempt, {
    deadline: () => Date.now() + 60_000,
    backoff: { initialMs: 10_000, maxMs: 10_000, jitter: 0 },
    wake: (wakeUp) => {
      wakeUp();
      return () => {};
    },
  });
  t.true(now.startedAt[1]! - now.startedAt[0]! < 500, 'woken at once');

  const late = flaky(3);
  const sleepers = new Sleepers();
  const result = await retry(late.attempt, { deadline: () => Date.now() + 10_000, backoff: { initialMs: 20, maxMs: 20, jitter: 0 }, wake: sleepers.wake });
  t.is(result, 'ok');
  t.is(late.startedAt.length, 4);
  t.is(sleepers.registered, 3);
  t.is(sleepers.waiting.size, 0, 'every wait withdrew its wake-up');
});

test('retry: a wake does not retry past a non-retryable error or the deadline', async (t) => {
  const final = new OfsError('ENOENT', '/x does not exist');
  let attempts = 0;
  const always = (wakeUp: () => void) => {
    wakeUp();
    return () => {};
  };
  await t.throwsAsync(
    retry(
      async () => {
        attempts++;
        throw final;
      },
      { deadline: () => Date.now() + 10_000, retryable: (err) => (err as OfsError).code !== 'ENOENT', wake: always },
    ),
    { is: final },
  );
  t.is(attempts, 1);
  const { attempt } = flaky(1_000);
  const started = Date.now();
  await t.throwsAsync(retry(attempt, { deadline: () => started + 300, backoff: { initialMs: 50, maxMs: 50, jitter: 0 }, wake: () => () => {} }), {
    message: /no master yet/,
  });
  t.true(Date.now() - started < 2_000);
});
