/**
 * The one error type that crosses process boundaries. `code` is stable and
 * machine-readable (it travels in error replies); `message` names the problem
 * and the thing it happened to, for a person.
 */
export const ERROR_CODES = [
  'ENOENT', // no such file or directory
  'EEXIST', // target already exists
  'EINVAL', // bad argument: path, offset, size, option
  'ENOTDIR', // a path component is a file
  'EISDIR', // a file operation on a directory
  'ENOTEMPTY', // rm of a non-empty directory without -r
  'EBADMSG', // a message that does not match its schema
  'ECORRUPT', // stored bytes fail their checksum
  'ESTALE', // a chunk version older than the one asked for
  'ELEASE', // a mutation sent to a replica that holds no valid lease for it
  'ENOSPC', // no room on a chunkserver, or not enough chunkservers
  'ENOTACTIVE', // sent to a master that is not the active one
  'EACCES', // refused for who the caller is: no key, an unknown key, or a role that may not send this
  'EUNAVAILABLE', // a peer (ZooKeeper, master, chunkserver) cannot be reached
  'ETIMEDOUT', // a peer did not answer in time
  'EBUSY', // a peer answered, but is in the middle of a long task (a standby installing a snapshot): ask again later
  'ECLOSED', // used after close(): final, never retried
  'EINTERNAL', // a bug: an invariant broke
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class OfsError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'OfsError';
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Turns anything thrown into an OfsError without losing its message. */
export function toOfsError(err: unknown): OfsError {
  if (err instanceof OfsError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new OfsError('EINTERNAL', message);
}
