import { OfsError } from '../core/errors.js';

/**
 * Return codes of the ZooKeeper C client that OFS reacts to. The `zookeeper`
 * package rejects its promises with a plain Error whose message starts with
 * the code ("-110 node exists"), or, when the call was refused before it was
 * sent, names the constant ('... result: "ZINVALIDSTATE -9"'); `zkErrorCode`
 * reads both forms back into a number.
 */
export const ZK = {
  CONNECTIONLOSS: -4,
  OPERATIONTIMEOUT: -7,
  INVALIDSTATE: -9,
  NONODE: -101,
  NOAUTH: -102,
  BADVERSION: -103,
  NODEEXISTS: -110,
  NOTEMPTY: -111,
  SESSIONEXPIRED: -112,
  CLOSING: -116,
} as const;

/** Event types passed to watcher callbacks (`ZOO_*_EVENT`). */
export const ZK_EVENT = {
  CREATED: 1,
  DELETED: 2,
  CHANGED: 3,
  CHILD: 4,
  /**
   * Connection state changes are delivered to *every* registered watcher too
   * (the C client copies them to all of them) without consuming the watch:
   * a watcher must ignore these and wait for its real event.
   */
  SESSION: -1,
  NOTWATCHING: -2,
} as const;

export function zkErrorCode(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const leading = /^(-\d+) /.exec(err.message);
  if (leading) return Number(leading[1]);
  const refused = /result: "\w+ (-\d+)"/.exec(err.message);
  if (refused) return Number(refused[1]);
  return undefined;
}

export function isZkError(err: unknown, code: number): boolean {
  return zkErrorCode(err) === code;
}

/** The codes after which the request may be retried once the session is connected again. */
export function isConnectionError(err: unknown): boolean {
  const code = zkErrorCode(err);
  return code === ZK.CONNECTIONLOSS || code === ZK.OPERATIONTIMEOUT;
}

/** The codes that mean this session is over: nothing sent through it will ever succeed. */
export function isSessionEndedError(err: unknown): boolean {
  const code = zkErrorCode(err);
  return code === ZK.SESSIONEXPIRED || code === ZK.CLOSING || code === ZK.INVALIDSTATE;
}

/** Turns a rejected ZooKeeper call into an OfsError that says what was being done. */
export function toOfsZkError(err: unknown, doing: string): OfsError {
  if (err instanceof OfsError) return err;
  const code = zkErrorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  const message = `ZooKeeper ${doing}: ${detail}`;
  if (code === ZK.NONODE) return new OfsError('ENOENT', message);
  if (code === ZK.NODEEXISTS) return new OfsError('EEXIST', message);
  if (code === ZK.NOAUTH) return new OfsError('EACCES', `${message} (only the cluster's members may write OFS's znodes: is this role given the cluster's keys directory?)`);
  if (code === ZK.OPERATIONTIMEOUT) return new OfsError('ETIMEDOUT', message);
  if (isConnectionError(err) || isSessionEndedError(err)) return new OfsError('EUNAVAILABLE', message);
  return new OfsError('EINTERNAL', message);
}
