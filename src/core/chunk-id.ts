import { z } from 'zod';
import { OfsError } from './errors.js';

/**
 * A chunk id is the master's 64-bit chunk handle written as 16 lowercase hex
 * characters. It becomes part of a file name, so anything else is refused before
 * it reaches the file system: "../x" must never name a file outside chunks/.
 */
const CHUNK_ID = /^[0-9a-f]{16}$/;

/** The schema of a chunk id in messages and journaled events. */
export const chunkIdSchema = z.string().regex(CHUNK_ID, 'a chunk id is 16 lowercase hex digits');

/** The id of the master's `n`th chunk. */
export function formatChunkId(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/**
 * Chunk numbers each master epoch has for itself: epoch e hands out numbers
 * in [e·2^32, (e+1)·2^32) (or from above the highest number in use, if that
 * is higher: clusters made before ids had epochs). A master tells the
 * replicas of a new chunk its id while the allocation is still being
 * journaled; if it dies in that round, the next master, of a higher epoch,
 * can never hand the same id out again, so the replicas left behind are of
 * no file and are deleted, never taken for a new chunk's.
 */
export const CHUNK_IDS_PER_EPOCH = 2 ** 32;
/** Above this, an epoch's ids would pass what a number holds exactly (2^53). */
const MAX_EPOCH_WITH_IDS = Math.floor(Number.MAX_SAFE_INTEGER / CHUNK_IDS_PER_EPOCH) - 1;

/**
 * The first `count` chunk numbers for a master of `epoch` (0: none, as in
 * tools and tests that decide without a master) whose namespace would hand
 * out `next` next. Refused when they run past the epoch's range: a new
 * epoch (a failover, or a restart) gives the master a fresh one.
 */
export function chunkNumbersFor(epoch: number, next: number, count: number): number {
  if (epoch === 0) return next;
  if (epoch > MAX_EPOCH_WITH_IDS) throw new OfsError('EINTERNAL', `master epoch ${epoch} is past ${MAX_EPOCH_WITH_IDS}, the last one chunk ids can carry`);
  const first = Math.max(next, epoch * CHUNK_IDS_PER_EPOCH);
  if (first + count > (epoch + 1) * CHUNK_IDS_PER_EPOCH) {
    throw new OfsError('EUNAVAILABLE', `master epoch ${epoch} has handed out all of its ${CHUNK_IDS_PER_EPOCH} chunk ids; a restart of the active master gives it new ones`);
  }
  return first;
}

/**
 * A new chunk's first version, like its id, comes from its epoch's own
 * range: epoch e tries versions above e·2^20. A first try is journaled only
 * once a replica took it, so a master that dies during one (or after one no
 * replica answered in time) leaves replicas at a version no journal holds,
 * on servers that may not report to the next master for a while. That
 * master, of a higher epoch, tries above all of them: they are stale when
 * they come back, never current and empty. An epoch would leave its range
 * only after 2^20 first tries of one chunk (each failed try waits out a 3 s
 * timeout: a month).
 */
export const FIRST_VERSIONS_PER_EPOCH = 2 ** 20;

/** The version a master of `epoch` starts a new chunk's tries above (0 for epoch 0: tools and tests). */
export function firstVersionFloor(epoch: number): number {
  return epoch * FIRST_VERSIONS_PER_EPOCH;
}

/**
 * The lowest epoch whose chunk ids all lie above `next` (a namespace's next
 * chunk number): a master taking over must hold at least this one. Epochs
 * come from ZooKeeper and only grow, unless its data was rolled back (a
 * restore from a backup, a new ensemble); then an epoch whose ids the journal
 * already holds could come round again, and the master skips past it.
 */
export function epochAbove(next: number): number {
  return Math.floor(Math.max(0, next - 1) / CHUNK_IDS_PER_EPOCH) + 1;
}

/** The number `formatChunkId` made `id` from, or undefined for an id it cannot have made, or one too big for a number to hold exactly. */
export function chunkNumber(id: string): number | undefined {
  if (!isChunkId(id)) return undefined;
  const n = parseInt(id, 16);
  return n <= Number.MAX_SAFE_INTEGER ? n : undefined;
}

/** Fault injection names a chunk's replica actor `chunk-<id>`. */
const REPLICA_ACTOR_PREFIX = 'chunk-';

export function replicaActorName(chunkId: string): string {
  return `${REPLICA_ACTOR_PREFIX}${chunkId}`;
}

/** The chunk id in a replica actor's name, or undefined for any other name. */
export function chunkIdOfReplicaActor(name: string): string | undefined {
  const id = name.startsWith(REPLICA_ACTOR_PREFIX) ? name.slice(REPLICA_ACTOR_PREFIX.length) : undefined;
  return isChunkId(id) ? id : undefined;
}

export function isChunkId(id: unknown): id is string {
  return typeof id === 'string' && CHUNK_ID.test(id);
}

export function assertChunkId(id: unknown): asserts id is string {
  if (!isChunkId(id)) {
    throw new OfsError('EINVAL', `chunk id ${JSON.stringify(id)} is not 16 lowercase hex characters`);
  }
}
