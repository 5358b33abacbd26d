import test from 'ava';
import { emptyRetryCache, remember, remembers, RETRY_CACHE_IDS, RETRY_CACHE_LATEST, upgradeRetryCache, type RetryCache } from '../../src/core/retry-cache.js';

const held = (cache: RetryCache) => cache.reduce((n, bucket) => n + (bucket?.length ?? 0), 0);

test('the retry cache remembers ids, holds at most RETRY_CACHE_IDS, and always the latest RETRY_CACHE_LATEST', (t) => {
  let cache = emptyRetryCache;
  for (let seq = 1; seq <= 10 * RETRY_CACHE_IDS; seq++) {
    cache = remember(cache, `client-${seq % 97}-req-${seq}`, seq);
    t.true(held(cache) <= RETRY_CACHE_IDS);
  }
  t.is(held(cache), RETRY_CACHE_IDS, 'full after many more ids than it holds');
  const last = 10 * RETRY_CACHE_IDS;
  for (let seq = last - RETRY_CACHE_LATEST + 1; seq <= last; seq++) t.true(remembers(cache, `client-${seq % 97}-req-${seq}`), `id ${seq} of the latest`);
  t.false(remembers(cache, 'client-1-req-1'), 'the oldest ids are forgotten');
  t.false(remembers(cache, 'never-seen'));
});

test('an id remembered again (each event of one request) is held once, at its latest seq', (t) => {
  let cache = emptyRetryCache;
  for (let seq = 1; seq <= 3; seq++) cache = remember(cache, 'mkdir-p', seq);
  t.is(held(cache), 1);
  t.deepEqual(cache.flatMap((bucket) => bucket ?? []), [['mkdir-p', 3]]);
});

test('remembering an id copies one bucket: every other bucket is shared with the cache before', (t) => {
  let cache = emptyRetryCache;
  for (let seq = 1; seq <= 500; seq++) cache = remember(cache, `r${seq}`, seq);
  const next = remember(cache, 'r501', 501);
  const changed = next.filter((bucket, i) => bucket !== cache[i]);
  t.is(changed.length, 1);
  t.true(remembers(next, 'r501'));
  t.false(remembers(cache, 'r501'), 'the cache before is unchanged');
  t.deepEqual(JSON.parse(JSON.stringify(next)), next, 'plain JSON, as checkpoints and snapshots carry it');
});

test('the forms older OFS versions stored upgrade with every id', (t) => {
  const fromList = upgradeRetryCache(['a', 'b', 'c'])!;
  const fromBuckets = upgradeRetryCache({ '3': { a: 1, c: 3 }, '9': { b: 2 } })!;
  for (const cache of [fromList, fromBuckets]) for (const id of ['a', 'b', 'c']) t.true(remembers(cache, id), id);
  t.is(upgradeRetryCache(fromList), undefined, "today's form needs no upgrade");
});
