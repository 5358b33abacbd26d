import type { Model, Operation } from './history.js';

/*
 * Wing & Gong's search for a linearization, with Lowe's memoization, as
 * Porcupine does it: walk the history's call and return events in time order;
 * at a call, try to linearize that operation now (the model must accept its
 * result); at a return whose operation is not linearized yet, undo the last
 * choice and try the next call instead. A (set of linearized operations,
 * model state) pair already explored is never explored again, which turns
 * the exponential search into one bounded by the distinct such pairs.
 */

export interface Budget {
  /** Search steps (a call tried or a choice undone) before giving up with `unknown`. */
  maxSteps: number;
}

export type Verdict =
  /** `order`: positions in the operations checked, in linearization order. */
  | { kind: 'linearizable'; steps: number; order: number[] }
  | { kind: 'not-linearizable'; steps: number; deepest: PartialLinearization }
  | { kind: 'unknown'; steps: number; deepest: PartialLinearization };

/** The longest prefix of a linearization the search reached: where it got stuck. */
export interface PartialLinearization {
  /** Operation ids, in linearization order. */
  order: number[];
  state: string;
}

interface Event {
  op: number;
  call: boolean;
  time: number;
  /** A call's return event. */
  match?: Event;
  prev?: Event;
  next?: Event;
}

/** The events as a doubly linked list (a head sentinel first), calls before returns at equal times (touching operations overlap). */
function eventList(ops: readonly Operation<unknown, unknown>[]): Event {
  const events: Event[] = [];
  ops.forEach((op, index) => {
    const ret: Event = { op: index, call: false, time: op.complete ?? Infinity };
    events.push({ op: index, call: true, time: op.invoke, match: ret }, ret);
  });
  events.sort((a, b) => a.time - b.time || Number(a.call === false) - Number(b.call === false));
  const head: Event = { op: -1, call: false, time: -Infinity };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Takes a call and its return out of the list (the operation is linearized). */
function lift(call: Event): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts them back, in the reverse order of `lift`. */
function unlift(call: Event): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

/**
 * Whether `ops` (one partition's, with ids of any kind) can be linearized
 * under `model`. An operation with no `complete` may be linearized anywhere
 * after its invoke or not at all: the search succeeds once only such
 * operations are left.
 */
export function checkOperations<S, C, R>(model: Model<S, C, R>, ops: readonly Operation<C, R>[], budget: Budget): Verdict {
  const head = eventList(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  const stack: { entry: Event; state: S }[] = [];
  let state = model.init;
  let steps = 0;
  let deepestOrder: number[] = [];
  let deepestState = state;
  const order = () => stack.map((s) => ops[s.entry.op]!.id);
  const deepest = (): PartialLinearization => ({ order: deepestOrder, state: model.show(deepestState) });
  let completedLeft = ops.filter((op) => op.complete !== undefined).length;

  let entry = head.next;
  while (completedLeft > 0) {
    if (++steps > budget.maxSteps) return { kind: 'unknown', steps, deepest: deepest() };
    if (entry!.call) {
      const op = ops[entry!.op]!;
      const next = model.step(state, op.call, op.result);
      if (next !== undefined) {
        const word = entry!.op >>> 5;
        const bit = 1 << (entry!.op & 31);
        linearized[word]! |= bit;
        const key = `${linearized.join(',')}|${model.key(next)}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ entry: entry!, state });
          state = next;
          lift(entry!);
          if (op.complete !== undefined) completedLeft--;
          if (stack.length > deepestOrder.length) [deepestOrder, deepestState] = [order(), state];
          entry = head.next;
          continue;
        }
        linearized[word]! &= ~bit;
      }
      entry = entry!.next;
    } else {
      // A return whose operation could not be linearized before it: undo the last choice.
      const top = stack.pop();
      if (!top) return { kind: 'not-linearizable', steps, deepest: deepest() };
      state = top.state;
      linearized[top.entry.op >>> 5]! &= ~(1 << (top.entry.op & 31));
      unlift(top.entry);
      if (ops[top.entry.op]!.complete !== undefined) completedLeft++;
      entry = top.entry.next;
    }
  }
  return { kind: 'linearizable', steps, order: stack.map((s) => s.entry.op) };
}
