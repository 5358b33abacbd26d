import { setTimeout as sleep } from 'node:timers/promises';
import { OfsError } from '../core/errors.js';
import { ExponentialBackoff, type BackoffOptions } from './backoff.js';

/** The back-off between retries of a call to another process: short at first, capped at a second, jittered so callers do not retry in step. */
export const CALL_BACKOFF: BackoffOptions = { initialMs: 50, maxMs: 1_000, jitter: 0.5 };

export interface RetryOptions {
  /** No retry starts after this (epoch ms); read at each failure, so a caller may move it. */
  deadline: () => number;
  backoff?: BackoffOptions;
  /** Whether a failure is worth another attempt (default: every one). */
  retryable?: (err: unknown) => boolean;
  /** Runs after the wait, before the next attempt: drop what the failure made stale. */
  beforeRetry?: (err: unknown) => void | Promise<void>;
  /**
   * Called at each wait with a function that ends it early, for when waiting
   * on is pointless (the client's watch saw the masters change); returns a
   * function that withdraws it. The next attempt then starts at once, and
   * the back-off starts over from its first delay.
   */
  wake?: (wakeUp: () => void) => () => void;
}

/**
 * Runs `attempt` until it succeeds, and retries it after a jittered
 * exponential back-off while the failure is retryable and the wait ends
 * before the deadline. Then the last error is thrown as it is. The one retry
 * loop of OFS's clients of other processes: the client's calls to the master
 * and chunkservers, and the master's to its standbys. ECLOSED (the caller
 * closed the client) is never retried.
 */
export async function retry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  let backoff = ExponentialBackoff.start(options.backoff ?? CALL_BACKOFF);
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      const delay = backoff.delayMs();
      if (isClosed(err) || options.retryable?.(err) === false || Date.now() + delay >= options.deadline()) throw err;
      const woken = options.wake ? await sleepUnlessWoken(delay, options.wake) : (await sleep(delay), false);
      backoff = woken ? ExponentialBackoff.start(backoff.options) : backoff.next();
      await options.beforeRetry?.(err);
    }
  }
}

/** Sleeps `ms`, or less if woken (`wake` may wake it at once); true if woken. */
function sleepUnlessWoken(ms: number, wake: NonNullable<RetryOptions['wake']>): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const end = (woken: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      withdraw?.();
      resolve(woken);
    };
    const timer = setTimeout(() => end(false), ms);
    let withdraw: (() => void) | undefined;
    withdraw = wake(() => end(true));
    if (done) withdraw();
  });
}

function isClosed(err: unknown): boolean {
  return err instanceof OfsError && err.code === 'ECLOSED';
}
