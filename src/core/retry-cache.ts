import type { UnsequencedEvent } from './events.js';

/**
 * HDFS's retry cache: the ids of the latest completed mutating requests, so
 * that a client retrying a request whose reply was lost (in a failover, say)
 * gets success instead of, say, EEXIST for its own mkdir. It lives in the
 * namespace (journaled, checkpointed, sent to a standby), so it is plain,
 * immutable data: ids are hashed into BUCKETS buckets of at most PER_BUCKET
 * [id, seq] pairs each, oldest first. Remembering an id copies the bucket
 * list (BUCKETS pointers) and one bucket, never the whole cache; a full
 * bucket forgets its oldest id. (Kept by hand, not through immer: immer's
 * copy and freeze checks of the bucket index were a fifth of a busy master's
 * CPU, profiled.)
 */
/** Bucket i (null: none yet, as JSON writes a gap). */
export type RetryCache = readonly (readonly (readonly [id: string, seq: number])[] | null)[];

const BUCKETS = 128;
const PER_BUCKET = 32;
/** How many ids the cache holds at most. */
export const RETRY_CACHE_IDS = BUCKETS * PER_BUCKET;
/** The latest this many ids are always held, however they hash. */
export const RETRY_CACHE_LATEST = PER_BUCKET;

export const emptyRetryCache: RetryCache = [];

/** FNV-1a of the id, as a bucket index: spreads ids evenly and is the same on every master. */
function bucketOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % BUCKETS;
}

export function remembers(cache: RetryCache, id: string): boolean {
  return cache[bucketOf(id)]?.some(([held]) => held === id) ?? false;
}

/** `cache` with `id` (completed by the event `seq`) remembered as its latest id. */
export function remember(cache: RetryCache, id: string, seq: number): RetryCache {
  const b = bucketOf(id);
  const bucket = [...(cache[b] ?? []).filter(([held]) => held !== id), [id, seq] as const];
  if (bucket.length > PER_BUCKET) bucket.shift();
  const next = [...cache];
  for (let i = next.length; i < b; i++) next[i] = null;
  next[b] = bucket;
  return next;
}

/**
 * A retry cache as an older OFS stored it: a list of ids, oldest first, or
 * an object of buckets (bucket → id → seq). Undefined for today's form.
 */
export function upgradeRetryCache(old: unknown): RetryCache | undefined {
  let pairs: [string, number][];
  if (Array.isArray(old) && old.every((id) => typeof id === 'string')) pairs = old.map((id, i) => [id, i]);
  else if (old !== null && typeof old === 'object' && !Array.isArray(old)) {
    pairs = Object.values(old as Record<string, Record<string, number>>).flatMap((bucket) => Object.entries(bucket));
    pairs.sort(([, a], [, b]) => a - b);
  } else return undefined;
  return pairs.reduce((cache, [id, seq]) => remember(cache, id, seq), emptyRetryCache);
}

/** Marks the last event of a mutation with its request id, for the retry cache. */
export function tagged(events: UnsequencedEvent[], requestId: string | undefined): UnsequencedEvent[] {
  return requestId && events.length > 0 ? [...events.slice(0, -1), { ...events.at(-1)!, requestId }] : events;
}
