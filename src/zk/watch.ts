import { ExponentialBackoff, sleep } from '../util/backoff.js';
import type { ZkSession } from './session.js';
import { isConnectionError, isZkError, toOfsZkError, ZK, ZK_EVENT } from './zk-errors.js';

export interface Watch {
  /** Stops calling back. ZooKeeper keeps the last one-shot watch until it fires; it is then ignored. */
  stop(): void;
}

export interface WatchChildrenOptions {
  /** Errors that are not a dropped connection (which is retried on reconnect). Default: retried after a back-off, silently. */
  onError?: (err: Error) => void;
}

/**
 * Calls `onChildren` with the children of `path` now and after every change,
 * re-arming ZooKeeper's one-shot watch each time. Deliveries never overlap
 * (a slow async `onChildren` holds back the next one), and each carries the
 * newest list read. A missing `path` reads as no children and is watched
 * for its creation. The watch ends with the session.
 *
 * Changes made while disconnected are not lost: on reconnecting, the client
 * re-registers its watches with the last zxid it saw and the server fires
 * those whose nodes changed meanwhile.
 */
export function watchChildren(
  session: ZkSession,
  path: string,
  onChildren: (children: string[]) => void | Promise<void>,
  options: WatchChildrenOptions = {},
): Watch {
  let stopped = false;
  // Each arm() registers a fresh watcher; only the newest may re-arm, so a
  // retry after reconnecting and a late-firing old watcher never double up.
  let generation = 0;
  let backoff = ExponentialBackoff.start({ initialMs: 100, maxMs: 5000, jitter: 0.5 });
  let delivering: Promise<void> = Promise.resolve();
  let latest: string[] | undefined;
  let queued = false;

  const deliver = (children: string[]): void => {
    latest = children;
    if (queued) return; // the queued delivery will pick up `latest`
    queued = true;
    delivering = delivering.then(async () => {
      queued = false;
      if (stopped || latest === undefined) return;
      try {
        await onChildren(latest);
      } catch (err) {
        // Reading what the children hold failed (the list itself was read):
        // read again rather than leave the caller with a stale view.
        await retryLater(generation, err);
      }
    });
  };

  const report = (err: unknown): void => {
    if (stopped || !session.isOpen) return;
    options.onError?.(toOfsZkError(err, `watching ${path}`));
  };

  const arm = async (): Promise<void> => {
    if (stopped || !session.isOpen) return;
    const mine = ++generation;
    const watcher = (type: number): void => {
      if (type === ZK_EVENT.SESSION) return; // a connection state change; the watch is still set
      if (mine === generation && !stopped) void arm();
    };
    try {
      const children = await session.client.w_get_children(path, watcher);
      backoff = ExponentialBackoff.start(backoff.options);
      if (mine === generation && !stopped) deliver(children);
    } catch (err) {
      if (stopped || !session.isOpen) return;
      if (isZkError(err, ZK.NONODE)) {
        deliver([]);
        await watchCreation(mine, watcher);
      } else {
        await retryLater(mine, err);
      }
    }
  };

  const watchCreation = async (mine: number, watcher: (type: number) => void): Promise<void> => {
    try {
      // Created between the two calls: read it now.
      await session.client.w_exists(path, watcher);
      if (mine === generation) void arm();
    } catch (err) {
      // NONODE leaves an existence watch behind, which fires on creation.
      if (!isZkError(err, ZK.NONODE)) await retryLater(mine, err);
    }
  };

  const retryLater = async (mine: number, err: unknown): Promise<void> => {
    if (stopped || !session.isOpen || mine !== generation) return;
    if (isConnectionError(err)) {
      await session.whenConnected().catch(() => {});
    } else {
      report(err);
      await sleep(backoff.delayMs());
      backoff = backoff.next();
    }
    if (mine === generation) void arm();
  };

  const offEnded = session.onEnded(() => {
    stopped = true;
  });
  void arm();
  return {
    stop() {
      stopped = true;
      offEnded();
    },
  };
}

/**
 * Resolves true once `path` does not exist (at once if it does not now), or
 * false if it still exists after `timeoutMs`. Rejects with EUNAVAILABLE if
 * the session ends meanwhile.
 */
export async function waitForDeletion(session: ZkSession, path: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    session.assertUsable();
    let fired!: (type: number) => void;
    const event = new Promise<number>((resolve) => (fired = resolve));
    try {
      await session.client.w_exists(path, (type: number) => {
        if (type !== ZK_EVENT.SESSION) fired(type);
      });
    } catch (err) {
      if (isZkError(err, ZK.NONODE)) return true;
      session.assertUsable();
      if (!isConnectionError(err)) throw toOfsZkError(err, `watching ${path}`);
      if ((await within(session, session.whenConnected(), deadline)) === undefined) return false;
      continue;
    }
    const type = await within(session, event, deadline);
    if (type === undefined) return false;
    if (type === ZK_EVENT.DELETED) return true;
    // Changed, not deleted: the one-shot watch is spent, set it again.
  }
}

/** `promise`'s value, or undefined at `deadline`; rejects if the session ends first. */
async function within<T>(session: ZkSession, promise: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  let offEnded = (): void => {};
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now())))),
      new Promise<never>((_, reject) => {
        offEnded = session.onEnded(() => {
          try {
            session.assertUsable(); // throws the EUNAVAILABLE that says how it ended
          } catch (err) {
            reject(err);
          }
        });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    offEnded();
  }
}
