import ZooKeeper from 'zookeeper';
import { OfsError } from '../core/errors.js';
import { ExponentialBackoff, sleep } from '../util/backoff.js';
import { ensurePaths, EPOCH_PATH } from './paths.js';
import { withReconnect, type ZkSession } from './session.js';
import { isConnectionError, isZkError, toOfsZkError, ZK } from './zk-errors.js';

/** Compare-and-set rounds lost to other masters before giving up; two or three contend at most. */
const MAX_ATTEMPTS = 50;

/**
 * Takes the next master epoch: a versioned set on /ofs/epoch (created at 1 if
 * missing), retried when another process got there first. Every epoch is
 * handed out once, so a master that carries it in its messages can be fenced
 * off by the chunkservers once a successor holds a higher one. (A set whose
 * answer was lost with the connection is retried too: that may skip a number,
 * which fencing does not mind; it never hands one out twice.) `atLeast`:
 * the lowest epoch the caller may take, skipping up to it if /ofs/epoch is
 * behind (see `epochAbove` in src/core/chunk-id.ts).
 */
export async function incrementEpoch(session: ZkSession, atLeast = 1): Promise<number> {
  await ensurePaths(session); // /ofs must exist for the first create
  let backoff = ExponentialBackoff.start({ initialMs: 5, maxMs: 500, jitter: 0.8 });
  for (let attempt = 1; ; attempt++) {
    try {
      const read = await readEpochVersion(session);
      if (read === undefined) {
        const first = Math.max(1, atLeast);
        await session.client.create(EPOCH_PATH, String(first), ZooKeeper.constants.ZOO_PERSISTENT);
        await session.protect(EPOCH_PATH);
        return first;
      }
      const next = Math.max(read.epoch + 1, atLeast);
      await session.client.set(EPOCH_PATH, String(next), read.version);
      return next;
    } catch (err) {
      session.assertUsable();
      const lostRace = isZkError(err, ZK.BADVERSION) || isZkError(err, ZK.NODEEXISTS) || isZkError(err, ZK.NONODE);
      if (!lostRace && !isConnectionError(err)) throw toOfsZkError(err, `incrementing ${EPOCH_PATH}`);
      if (attempt >= MAX_ATTEMPTS) {
        throw new OfsError('ETIMEDOUT', `could not increment ${EPOCH_PATH}: lost ${attempt} races to other writers`);
      }
      if (isConnectionError(err)) await session.whenConnected();
      else await sleep(backoff.delayMs());
      backoff = backoff.next();
    }
  }
}

/** The current master epoch; 0 if no master was ever elected. */
export async function readEpoch(session: ZkSession): Promise<number> {
  try {
    return (await readEpochVersion(session))?.epoch ?? 0;
  } catch (err) {
    throw toOfsZkError(err, `reading ${EPOCH_PATH}`);
  }
}

async function readEpochVersion(session: ZkSession): Promise<{ epoch: number; version: number } | undefined> {
  let stat: { version: number };
  let data: unknown;
  try {
    [stat, data] = await withReconnect(session, () => session.client.get(EPOCH_PATH, false));
  } catch (err) {
    if (isZkError(err, ZK.NONODE)) return undefined;
    throw err;
  }
  const text = String(data).trim();
  const epoch = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(epoch)) {
    throw new OfsError('EINTERNAL', `invariant broken: ${EPOCH_PATH} must hold a decimal integer, holds "${text}"`);
  }
  return { epoch, version: stat.version };
}
