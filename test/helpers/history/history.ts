/**
 * A recorded history, as a Knossos/Porcupine checker takes it: each operation
 * with the client that issued it, when it was invoked and when its answer
 * came back, what it asked, and what it got. An operation with no
 * `complete` never answered definitely (a crash, a timeout, an error that
 * does not say whether it took effect): it may take effect at any point
 * after `invoke`, or never, and its result is unknown.
 */
export interface Operation<Call, Result> {
  /** Position in the recorded history, for reports and the seen-set bitset. */
  id: number;
  client: number;
  invoke: number;
  complete?: number;
  call: Call;
  /** Undefined when the answer is unknown: always when `complete` is (and when it is known only that the operation was over by then). */
  result?: Result;
}

/**
 * A sequential specification. `step` returns the state after `call` when it
 * may answer `result` in `state` (any answer, when `result` is undefined), or
 * undefined when it may not. States are immutable; `key` is a canonical
 * string of a state, for the memo of the search.
 */
export interface Model<State, Call, Result> {
  init: State;
  step(state: State, call: Call, result: Result | undefined): State | undefined;
  key(state: State): string;
  /** A state for a person. */
  show(state: State): string;
  /**
   * Whether an operation with this answer only constrains the others and
   * never makes something possible (a read, a refusal): leaving it out of a
   * history can only make the history easier to linearize.
   */
  onlyObserves(call: Call, result: Result | undefined): boolean;
  /**
   * Whether two calls may affect one another. Operations that never do,
   * directly or through others, are independent objects: a history is
   * linearizable only if each such object's part of it is (locality).
   */
  related(a: Call, b: Call): boolean;
  /**
   * An operation as parts that each observe less (a listing as one look per
   * name, say), for the failing window: replaced by its parts, each free to
   * take effect at its own point, it can only make a history easier to
   * linearize. `window`: the other operations, which say what names matter.
   */
  split(op: Operation<Call, Result>, window: readonly Operation<Call, Result>[]): Operation<Call, Result>[];
  /** One line for a report. */
  describe(op: Operation<Call, Result>): string;
}
