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

test('retry: a wake cuts the back-off short, and the back-off starts over from its first delay', async (t) => {
  const { attempt, startedAt } = flaky(2);
  let wakeUp!: () => void;
  const woken = new Promise<void>((resolve) => (wakeUp = resolve));
  let wakes = 0;
  setTimeout(() => wakeUp(), 50);
  const result = await retry(attempt, {
    deadline: () => Date.now() + 60_000,
    // Doubling from 1 s: only the wake ends the first wait early; after it, the second wait is 1 s again, not 2.
    backoff: { initialMs: 1_000, maxMs: 60_000, jitter: 0 },
    wake: () => (++wakes === 1 ? woken : new Promise(() => {})),
  });
  t.is(result, 'ok');
  t.is(startedAt.length, 3);
  const [first, second, third] = startedAt as [number, number, number];
  t.true(second - first < 700, `the wake ended the first wait after ${second - first} ms`);
  t.true(third - second >= 950 && third - second < 1_800, `the second wait took ${third - second} ms: the back-off started over`);
  t.is(wakes, 2, 'each wait asks for a fresh wake');
});

test('retry: a wake that does not come in time leaves the back-off as it was', async (t) => {
  const { attempt, startedAt } = flaky(3);
  let events = 0;
  const result = await retry(attempt, {
    deadline: () => Date.now() + 10_000,
    backoff: { initialMs: 20, maxMs: 20, jitter: 0 },
    wake: () => new Promise((resolve) => setTimeout(() => resolve(++events), 1_000)),
  });
  t.is(result, 'ok');
  t.is(startedAt.length, 4);
  t.is(events, 0, 'the back-off ended each wait first');
});

test('retry: a wake does not retry past a non-retryable error or the deadline', async (t) => {
  const final = new OfsError('ENOENT', '/x does not exist');
  let attempts = 0;
  await t.throwsAsync(
    retry(
      async () => {
        attempts++;
        throw final;
      },
      { deadline: () => Date.now() + 10_000, retryable: (err) => (err as OfsError).code !== 'ENOENT', wake: () => Promise.resolve() },
    ),
    { is: final },
  );
  t.is(attempts, 1);
  const { attempt } = flaky(1_000);
  const started = Date.now();
  await t.throwsAsync(retry(attempt, { deadline: () => started + 300, backoff: { initialMs: 50, maxMs: 50, jitter: 0 }, wake: () => new Promise(() => {}) }), {
    message: /no master yet/,
  });
  t.true(Date.now() - started < 2_000);
});
