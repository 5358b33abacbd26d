import { OfsError, toOfsError, type ErrorCode } from '../core/errors.js';

/**
 * What an actor answers to an ask: a value, or the error that says why not.
 * The error travels as code and message, like an error reply on the wire, so
 * that the asker throws an OfsError of its own with its own stack.
 */
export type Result<T> = { ok: true; value: T } | Failure;
export type Failure = { ok: false; code: ErrorCode; message: string };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** Anything thrown, as a failed Result (an OfsError keeps its code; anything else is EINTERNAL). */
export function failed(err: unknown): Failure {
  const error = toOfsError(err);
  return { ok: false, code: error.code, message: error.message };
}

/** The value, or the carried error thrown as an OfsError. */
export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new OfsError(result.code, result.message);
  return result.value;
}

/** Settles `work` into a Result: for an actor that answers once an async step is done. */
export function settle<T>(work: Promise<T>): Promise<Result<T>> {
  return work.then(ok, failed);
}
