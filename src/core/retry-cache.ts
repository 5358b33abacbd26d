/**
 * HDFS's retry cache: the ids of the latest completed mutating requests, so
 * that a client retrying a request whose reply was lost (in a failover, say)
 * gets success instead of, say, EEXIST for its own mkdir. It lives in the
 * namespace (journaled, checkpointed, sent to a standby), so it must be
 * plain data that immer updates cheaply: ids are hashed into BUCKETS buckets
 * of at most PER_BUCKET ids each, id → the seq of its event. Remembering an
 * id copies one small bucket and the bucket index, never the whole cache; a
 * full bucket forgets its oldest id.
 */
export type RetryCache = Record<string, Record<string, number>>;

const BUCKETS = 128;
const PER_BUCKET = 32;
/** How many ids the cache holds at most. */
export const RETRY_CACHE_IDS = BUCKETS * PER_BUCKET;
/** The latest this many ids are always held, however they hash. */
export const RETRY_CACHE_LATEST = PER_BUCKET;

export const emptyRetryCache: RetryCache = {};

/** FNV-1a of the id, as a bucket key: spreads ids evenly and is the same on every master. */
function bucketOf(id: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return String((hash >>> 0) % BUCKETS);
}

export function remembers(cache: RetryCache, id: string): boolean {
  return Object.hasOwn(cache[bucketOf(id)] ?? {}, id);
}

/** Records `id` (completed by the event `seq`) in a cache being drafted by immer. */
export function remember(draft: RetryCache, id: string, seq: number): void {
  const bucket = (draft[bucketOf(id)] ??= {});
  bucket[id] = seq;
  const ids = Object.keys(bucket);
  if (ids.length <= PER_BUCKET) return;
  let oldest = ids[0]!;
  for (const other of ids) if (bucket[other]! < bucket[oldest]!) oldest = other;
  delete bucket[oldest];
}
