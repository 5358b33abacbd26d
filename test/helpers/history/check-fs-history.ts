import { pathsOf, type FsOperation, type FsResult } from './fs-history.js';
import type { Operation } from './history.js';
import type { Budget } from './linearizability.js';
import { lowerFsHistory, namespaceModel, readsHeldToBytes, type ModelCall } from './namespace-model.js';
import { checkPartitioned, formatVerdict, type HistoryVerdict } from './partitioned-check.js';

/*
 * The partition key is a *group*: a directory the workload gives a small
 * fixed set of names, and inside which it keeps every operation, renames
 * included (both ends in one group). A key per exact path would be wrong: a
 * rename changes two paths at once, a list reads all of a directory's names,
 * and a write creates missing parents. Operations in different groups never
 * affect one another, so each group's history is checked on its own.
 */

export interface FsCheckOptions {
  /** The group directory of a path; every path of one operation must share it. */
  groupOf: (path: string) => string;
  /** Printed with the verdict: what replays the run. */
  seed: string | number;
  /** Search steps per partition (a step takes a few microseconds). */
  budget?: Budget;
  /** Search steps for the whole shrink to the smallest failing window. */
  shrinkBudget?: Budget;
}

export const DEFAULT_BUDGET: Budget = { maxSteps: 2_000_000 };
export const DEFAULT_SHRINK_BUDGET: Budget = { maxSteps: 4_000_000 };

export interface FsCheck {
  verdict: HistoryVerdict<ModelCall, FsResult>;
  report: string;
  /** Reads held to known bytes in the linearizations found (readsHeldToBytes). */
  readsHeld: number;
}

export function checkFsHistory(history: readonly FsOperation[], options: FsCheckOptions): FsCheck {
  const groups = new Map<string, FsOperation[]>();
  for (const op of history) {
    const [group, ...others] = pathsOf(op.call).map(options.groupOf);
    if (others.some((g) => g !== group)) throw new Error(`operation #${op.id} spans groups (${pathsOf(op.call).join(', ')}): the workload must keep each operation in one group`);
    const ops = groups.get(group!) ?? [];
    groups.set(group!, ops);
    ops.push(op);
  }
  const partitions = new Map<string, Operation<ModelCall, FsResult>[]>([...groups].map(([group, ops]) => [group, lowerFsHistory(ops)]));
  const verdict = checkPartitioned(partitions, namespaceModel, options.budget ?? DEFAULT_BUDGET, options.shrinkBudget ?? DEFAULT_SHRINK_BUDGET);
  const readsHeld = verdict.partitions.reduce((n, { key, verdict: v }) => n + (v.kind === 'linearizable' ? readsHeldToBytes(key, partitions.get(key)!, v.order) : 0), 0);
  return { verdict, report: formatVerdict(verdict, namespaceModel, options.seed), readsHeld };
}
