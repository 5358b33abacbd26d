import { DEFINITE_ERRORS, type FsOperation } from '../history/fs-history.js';
import type { RunnerReport } from './workload-runner.js';

/*
 * An availability figure from a recorded history: how long writes and reads
 * went unanswered from the moment a partition began, and whether both were
 * answered again after the heal without anyone stepping in. An answer is a
 * result or an error that says the operation was decided (ENOENT, EEXIST...);
 * EUNAVAILABLE and timeouts are no answer.
 */

export interface Availability {
  /** Longest time from the cut (or an answer after it) to the next write answered, in ms. */
  writeStallMs: number;
  readStallMs: number;
  /** Writes and reads answered while the partition lasted. */
  writesDuring: number;
  readsDuring: number;
  /** Both a write and a read invoked after the heal were answered. */
  recovered: boolean;
  /** From the heal to the first write answered that was invoked after it, in ms. */
  recoveryMs: number | undefined;
}

const answered = (op: FsOperation) => op.result !== undefined && (op.result.ok || DEFINITE_ERRORS.has(op.result.code));

/** `cutAt` and `healAt` in ms since the epoch (Date.now()); the history's times are relative to the runner's timeOrigin. */
export function availability(report: RunnerReport, cutAt: number, healAt: number): Availability {
  const at = (t: number) => report.timeOrigin + t;
  const kind = (k: 'write' | 'read') => report.history.filter((op) => op.call.kind === k && answered(op));
  const stall = (ops: FsOperation[]) => {
    const times = ops.map((op) => at(op.complete!)).filter((t) => t >= cutAt).sort((a, b) => a - b);
    let longest = 0;
    let previous = cutAt;
    for (const t of times) {
      longest = Math.max(longest, t - previous);
      previous = t;
    }
    return Math.round(longest);
  };
  const during = (ops: FsOperation[]) => ops.filter((op) => at(op.complete!) >= cutAt && at(op.complete!) <= healAt).length;
  const afterHeal = (ops: FsOperation[]) => ops.filter((op) => at(op.invoke) >= healAt);
  const [writes, reads] = [kind('write'), kind('read')];
  const firstWriteAfter = Math.min(...afterHeal(writes).map((op) => at(op.complete!)));
  return {
    writeStallMs: stall(writes),
    readStallMs: stall(reads),
    writesDuring: during(writes),
    readsDuring: during(reads),
    recovered: afterHeal(writes).length > 0 && afterHeal(reads).length > 0,
    recoveryMs: Number.isFinite(firstWriteAfter) ? Math.round(firstWriteAfter - healAt) : undefined,
  };
}

export function describeAvailability(a: Availability, partitionMs: number): string {
  return (
    `availability: partition ${(partitionMs / 1000).toFixed(1)} s; writes stalled at most ${(a.writeStallMs / 1000).toFixed(1)} s ` +
    `(${a.writesDuring} answered during it), reads at most ${(a.readStallMs / 1000).toFixed(1)} s (${a.readsDuring} answered during it); ` +
    (a.recovered ? `recovered by itself, first write ${((a.recoveryMs ?? 0) / 1000).toFixed(1)} s after the heal` : 'did NOT recover by itself after the heal')
  );
}
