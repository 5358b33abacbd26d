import { checkOperations, type Budget } from './linearizability.js';
import type { Model, Operation } from './history.js';

/*
 * The smallest failing window of a history that is not linearizable: a
 * sub-history that still is not, found by steps that can only make a history
 * *easier* to linearize, so that the window is a proof on its own (dropping a
 * write instead would fail a later read for the wrong reason):
 *
 * 1. cut the history at a time T: operations invoked after T go, and those
 *    still running at T lose their answers (they may have taken effect, or
 *    not). Every linearization of the whole history gives one of the cut;
 * 2. split observers into parts that observe less (the model's `split`: a
 *    listing becomes one look per name), then leave out operations that only
 *    observe (reads, refusals);
 * 3. set aside the answer of each remaining operation that changes state
 *    (it may take effect at any time after its invoke, or never);
 * 4. leave out the observers that step 3 left with no answer.
 *
 * After steps 2 and 4, the window is split into independent objects (the
 * model says which operations are related) and the smallest part that still
 * fails is kept: by locality, that part alone proves the whole wrong.
 *
 * Each step is kept only if the search still says "not linearizable" within
 * what is left of `budget`, which bounds the whole shrink (when it runs out,
 * the window is what the shrink had reached), and within `perCheck` steps:
 * a step that makes the search that much harder is not worth taking.
 */

type Op<C, R> = Operation<C, R>;

const relaxed = <C, R>(op: Op<C, R>): Op<C, R> => ({ ...op, complete: undefined, result: undefined });

/** The history up to `cut`: later invokes dropped, operations still running at `cut` with no answer. */
function prefixAt<C, R>(ops: readonly Op<C, R>[], cut: number): Op<C, R>[] {
  return ops.filter((op) => op.invoke <= cut).map((op) => (op.complete !== undefined && op.complete <= cut ? op : relaxed(op)));
}

export function failingWindow<S, C, R>(model: Model<S, C, R>, failing: readonly Op<C, R>[], budget: Budget, perCheck = 50_000): Op<C, R>[] {
  let left = budget.maxSteps;
  const fails = (ops: readonly Op<C, R>[]) => {
    if (left <= 0) return false;
    const verdict = checkOperations(model, ops, { maxSteps: Math.min(left, perCheck) });
    left -= verdict.steps;
    return verdict.kind === 'not-linearizable';
  };

  // 1. The earliest cut that still fails (binary search over completion times; the last one is the whole history).
  const cuts = [...new Set(failing.flatMap((op) => (op.complete === undefined ? [] : [op.complete])))].sort((a, b) => a - b);
  let lo = -1;
  let hi = cuts.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fails(prefixAt(failing, cuts[mid]!))) hi = mid;
    else lo = mid;
  }
  let window = hi >= 0 ? prefixAt(failing, cuts[hi]!) : [...failing];

  /** Applies `change` to chunks of the operations `eligible` picks (halves, then quarters, ... then one at a time), keeping each change that still fails. */
  const shrink = (eligible: (op: Op<C, R>) => boolean, change: (op: Op<C, R>) => Op<C, R> | undefined) => {
    for (let size = Math.max(1, window.filter(eligible).length >> 1); size >= 1; size = size === 1 ? 0 : Math.max(1, size >> 1)) {
      for (let start = 0; ; start += size) {
        const targets = window.filter(eligible).slice(start, start + size);
        if (targets.length === 0) break;
        const candidate = window.flatMap((op) => (targets.includes(op) ? [change(op)].filter((o) => o !== undefined) : [op]));
        if (fails(candidate)) {
          window = candidate;
          start -= size; // the same position now holds the next operations
        }
      }
    }
  };
  const observes = (op: Op<C, R>) => model.onlyObserves(op.call, op.result);
  const keepFailingObject = () => {
    const failingPart = objects(model, window).find(fails);
    if (failingPart) window = failingPart;
  };
  const split = window.flatMap((op) => model.split(op, window));
  if (fails(split)) window = split;
  shrink(observes, () => undefined);
  keepFailingObject();
  shrink((op) => op.complete !== undefined && !observes(op), relaxed);
  shrink(observes, () => undefined);
  keepFailingObject();
  return window.sort((a, b) => a.invoke - b.invoke);
}

/** The operations grouped into independent objects (connected by `related`), smallest first. */
function objects<S, C, R>(model: Model<S, C, R>, ops: readonly Op<C, R>[]): Op<C, R>[][] {
  const part = ops.map((_, i) => i);
  const find = (i: number): number => (part[i] === i ? i : (part[i] = find(part[i]!)));
  for (let i = 0; i < ops.length; i++) for (let j = i + 1; j < ops.length; j++) if (model.related(ops[i]!.call, ops[j]!.call)) part[find(i)] = find(j);
  const parts = new Map<number, Op<C, R>[]>();
  ops.forEach((op, i) => parts.set(find(i), [...(parts.get(find(i)) ?? []), op]));
  return [...parts.values()].sort((a, b) => a.length - b.length);
}
