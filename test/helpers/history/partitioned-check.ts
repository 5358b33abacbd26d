import { failingWindow } from './failing-window.js';
import type { Model, Operation } from './history.js';
import { checkOperations, type Budget, type Verdict } from './linearizability.js';

/*
 * P-compositionality (Herlihy & Wing): a history is linearizable if and only
 * if each object's sub-history is, when operations on different objects
 * never affect one another. So each partition is checked on its own, which
 * keeps every search small.
 */

export interface PartitionVerdict {
  key: string;
  /** Distinct operation ids: the recorded operations, however the model lowered them. */
  operations: number;
  verdict: Verdict;
}

export interface Failure<C, R> {
  key: string;
  operations: number;
  window: Operation<C, R>[];
  deepest: Verdict & { kind: 'not-linearizable' };
}

export interface HistoryVerdict<C, R> {
  kind: Verdict['kind'];
  partitions: PartitionVerdict[];
  /** The first partition that is not linearizable, with its smallest failing window. */
  failure?: Failure<C, R>;
}

/** `budget` bounds each partition's search, and `shrinkBudget` the whole search for the failing window. */
export function checkPartitioned<S, C, R>(
  partitions: ReadonlyMap<string, readonly Operation<C, R>[]>,
  modelOf: (key: string) => Model<S, C, R>,
  budget: Budget,
  shrinkBudget: Budget,
): HistoryVerdict<C, R> {
  const verdicts: PartitionVerdict[] = [];
  let failure: Failure<C, R> | undefined;
  for (const [key, ops] of [...partitions].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const verdict = checkOperations(modelOf(key), ops, budget);
    const operations = new Set(ops.map((op) => op.id)).size;
    verdicts.push({ key, operations, verdict });
    if (verdict.kind === 'not-linearizable' && !failure) {
      failure = { key, operations, window: failingWindow(modelOf(key), ops, shrinkBudget), deepest: verdict };
    }
  }
  const kind = failure ? 'not-linearizable' : verdicts.some((v) => v.verdict.kind === 'unknown') ? 'unknown' : 'linearizable';
  return { kind, partitions: verdicts, failure };
}

/** A verdict for a person: on failure the window, one operation a line, and the seed that replays the run. */
export function formatVerdict<S, C, R>(verdict: HistoryVerdict<C, R>, modelOf: (key: string) => Model<S, C, R>, seed: string | number): string {
  const checked = verdict.partitions.reduce((n, p) => n + p.operations, 0);
  const head = `${checked} operations in ${verdict.partitions.length} partitions`;
  if (verdict.kind === 'linearizable') return `linearizable: ${head} (seed ${seed})`;
  if (verdict.kind === 'unknown') {
    const over = verdict.partitions.filter((p) => p.verdict.kind === 'unknown').map((p) => `${p.key} (${p.operations} operations, ${p.verdict.steps} steps)`);
    return `unknown: budget exhausted in ${over.join(', ')}; ${head} (seed ${seed}). Not a pass.`;
  }
  const { key, operations, window, deepest } = verdict.failure!;
  const model = modelOf(key);
  const origin = Math.min(...window.map((op) => op.invoke));
  const answered = window.filter((op) => op.complete !== undefined);
  const open = window.filter((op) => op.complete === undefined);
  return [
    `NOT LINEARIZABLE: partition ${key} (${operations} operations); ${head}; seed ${seed}`,
    `smallest failing window (${window.length} operations; times in ms from its first invoke):`,
    ...answered.map((op) => `  ${model.describe({ ...op, invoke: op.invoke - origin, complete: op.complete! - origin })}`),
    ...(open.length > 0
      ? ['  with these, each of which may take effect at any point after its invoke, or never:', ...open.map((op) => `  ${model.describe({ ...op, invoke: op.invoke - origin })}`)]
      : []),
    `the search of the whole partition linearized at most ${deepest.deepest.order.length} of its steps, the last ids ${deepest.deepest.order.slice(-8).join(' ')}, reaching ${deepest.deepest.state}`,
  ].join('\n');
}
