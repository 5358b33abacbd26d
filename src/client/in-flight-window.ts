/**
 * Keeps up to `size` operations running and hands their results back in the
 * order they were started: the pipelining that lets a client stream pieces
 * to (or from) a chunkserver without waiting a round trip per piece, while
 * bounding the bytes held in memory to `size` pieces.
 */
export class InFlightWindow<T> {
  private readonly running: Promise<T>[] = [];

  constructor(private readonly size: number) {}

  /** Starts `op`; if the window was full, first waits for (and returns) the oldest result. */
  async push(op: () => Promise<T>): Promise<T[]> {
    const done: T[] = [];
    while (this.running.length >= this.size) done.push(await this.running.shift()!);
    const started = op();
    started.catch(() => undefined); // surfaced when drained; avoids an unhandled rejection meanwhile
    this.running.push(started);
    return done;
  }

  /** Waits for everything still running, in start order. */
  async drain(): Promise<T[]> {
    const done: T[] = [];
    while (this.running.length > 0) done.push(await this.running.shift()!);
    return done;
  }
}
