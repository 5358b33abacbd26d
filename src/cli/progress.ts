import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SingleBar } from 'cli-progress';
import { formatBytes } from './format.js';

const MIB = 2 ** 20;

/**
 * Whether to draw a progress bar: only for a person watching a terminal, so
 * a pipe or a log file (stderr not a TTY) never gets the bar's escape codes,
 * and not with `--quiet`.
 */
export function wantsProgress(quiet: boolean | undefined): boolean {
  return !quiet && process.stderr.isTTY === true;
}

/**
 * A bar on stderr, redrawn in place: how far a job has come, MiB/s since it
 * began (bytes moved over time taken, so the figure settles rather than
 * jitters) and cli-progress's ETA (from the recent pace of `value`).
 */
export class ProgressBar {
  private readonly bar: SingleBar;
  private readonly startedAt = Date.now();
  private bytes = 0;

  /** `format`: cli-progress tokens ({bar}, {percentage}, {eta_formatted}) and {rate}, {done}, {size} and the payload's. */
  constructor(format: string, total: number, payload: Record<string, string | number> = {}, barsize = 20) {
    this.bar = new SingleBar({ format, stream: process.stderr, barsize, etaBuffer: 50, fps: 5 });
    this.bar.start(total, 0, { ...payload, ...this.figures(total) });
  }

  /** `value` on the bar's scale, `bytes` moved so far. */
  update(value: number, bytes: number, payload: Record<string, string | number> = {}): void {
    this.bytes = bytes;
    this.bar.update(value, { ...payload, ...this.figures(this.bar.getTotal()) });
  }

  /** Leaves the last drawing in place and moves to a new line (an error message, if any, goes below it). */
  stop(): void {
    this.bar.stop();
  }

  private figures(total: number) {
    const seconds = (Date.now() - this.startedAt) / 1000;
    return { rate: seconds > 0 ? (this.bytes / MIB / seconds).toFixed(1) : '0.0', done: formatBytes(this.bytes), size: formatBytes(total) };
  }
}

/**
 * `pipeline(source, target)`, with a bar when `show`: the bytes are counted
 * as they pass from one to the other. `size` (asked only then) gives the
 * bar its end; undefined (stdin from a pipe) or 0 shows bytes and MiB/s only.
 * `end: false` leaves the target open (stdout).
 */
export async function pipeWithProgress(
  verb: string,
  source: Readable,
  target: Writable,
  options: { show: boolean; size: () => Promise<number | undefined>; end?: boolean },
): Promise<void> {
  const end = { end: options.end ?? true };
  if (!options.show) return pipeline(source, target, end);
  const size = await options.size();
  const format = size
    ? `${verb} [{bar}] {percentage}% | {done} of {size} | {rate} MiB/s | ETA {eta_formatted}`
    : `${verb} {done} | {rate} MiB/s`;
  const bar = new ProgressBar(format, size ?? 0);
  let bytes = 0;
  const meter = new Transform({
    transform(piece: Buffer, _encoding, done) {
      bytes += piece.length;
      bar.update(bytes, bytes);
      done(null, piece);
    },
  });
  try {
    await pipeline(source, meter, target, end);
  } finally {
    bar.stop();
  }
}
