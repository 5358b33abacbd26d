/**
 * Retry delays as a small immutable policy (after microsoft/etcd3's
 * `backoff/exponential.ts`): callers hold a value, ask it for the delay and
 * for the next value, and never sprinkle their own sleeps.
 */
export interface BackoffOptions {
  /** Delay of the first retry, in milliseconds. */
  initialMs: number;
  /** Upper bound of any delay, in milliseconds. */
  maxMs: number;
  /**
   * Fraction of each delay that is random (0..1). Two processes that collide
   * on the same znode version must not retry in lockstep.
   */
  jitter: number;
}

export class ExponentialBackoff {
  private constructor(
    readonly options: BackoffOptions,
    private readonly attempt: number,
  ) {}

  static start(options: BackoffOptions): ExponentialBackoff {
    return new ExponentialBackoff(options, 0);
  }

  /** The delay to wait before the retry this value stands for. */
  delayMs(random: () => number = Math.random): number {
    const { initialMs, maxMs, jitter } = this.options;
    const full = Math.min(maxMs, initialMs * 2 ** this.attempt);
    return Math.round(full * (1 - jitter * random()));
  }

  next(): ExponentialBackoff {
    return new ExponentialBackoff(this.options, this.attempt + 1);
  }

  get attempts(): number {
    return this.attempt;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
