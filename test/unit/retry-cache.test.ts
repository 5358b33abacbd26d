import test from 'ava';
import { produce } from 'immer';
import { emptyRetryCache, remember, remembers, RETRY_CACHE_IDS, RETRY_CACHE_LATEST, type RetryCache } from '../../src/core/retry-cache.js';

const add = (cache: RetryCache, id: string, seq: number) => produce(cache, (draft) => remember(draft, id, seq));
const held = (cache: RetryCache) => Object.values(cache).reduce((n, bucket) => n + Object.keys(bucket).length, 0);

test('the retry cache remembers ids, holds at most RETRY_CACHE_IDS, and always the latest RETRY_CACHE_LATEST', (t) => {
  let cache = emptyRetryCache;
  for (let seq = 1; seq <= 10 * RETRY_CACHE_IDS; seq++) {
    cache = add(cache, `client-${seq % 97}-req-${seq}`, seq);
    t.true(held(cache) <= RETRY_CACHE_IDS);
  }
  t.is(held(cache), RETRY_CACHE_IDS, 'full after many more ids than it holds');
  const last = 10 * RETRY_CACHE_IDS;
  for (let seq = last - RETRY_CACHE_LATEST + 1; seq <= last; seq++) t.true(remembers(cache, `client-${seq % 97}-req-${seq}`), `id ${seq} of the latest`);
  t.false(remembers(cache, 'client-1-req-1'), 'the oldest ids are forgotten');
  t.false(remembers(cache, 'never-seen'));
});

test('remembering an id copies one bucket: every other bucket is shared with the cache before', (t) => {
  let cache = emptyRetryCache;
  for (let seq = 1; seq <= 500; seq++) cache = add(cache, `r${seq}`, seq);
  const next = add(cache, 'r501', 501);
  const changed = Object.keys(next).filter((key) => next[key] !== cache[key]);
  t.is(changed.length, 1);
  t.true(remembers(next, 'r501'));
  t.false(remembers(cache, 'r501'), 'the cache before is unchanged');
});
