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
  /** Undefined exactly when `complete` is: the answer is unknown. */
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
  /** One line for a report. */
  describe(op: Operation<Call, Result>): string;
}
