import test from 'ava';
import { chooseReplicas, ClusterView } from '../../src/core/cluster-view.js';

const load = (id: string, free: number) => ({ id, address: `tcp://127.0.0.1:${id.length}0`, used: 0, free, capacity: free, chunkCount: 0 });

test('placement: distinct servers with the most free space, skipping those without room', (t) => {
  const servers = [load('a', 50), load('b', 500), load('c', 300), load('d', 10), load('e', 400)];
  t.deepEqual(chooseReplicas(servers, 3, 100).map((s) => s.id), ['b', 'e', 'c']);
  t.deepEqual(chooseReplicas(servers, 3, 350).map((s) => s.id), ['b', 'e']);
  t.deepEqual(chooseReplicas([], 3, 1), []);
});

test('placement: servers sharing a disk (the same free space) take new chunks the least filled first', (t) => {
  const shared = (id: string, used: number) => ({ ...load(id, 1000), used, capacity: 1000 + used });
  const servers = [shared('a', 300), shared('b', 0), shared('c', 200), shared('d', 100), shared('e', 400)];
  t.deepEqual(chooseReplicas(servers, 3, 100).map((s) => s.id), ['b', 'd', 'c']);
});

test('holders: only live servers at the exact version; full reports replace, partial add', (t) => {
  const view = new ClusterView(1000);
  t.false(view.heartbeat(load('a', 1), 0));
  t.true(view.heartbeat(load('a', 1), 10));
  view.report(load('a', 1), [{ chunkId: 'c1', version: 2, length: 5 }], true, 10);
  view.report(load('b', 1), [{ chunkId: 'c1', version: 1, length: 5 }], true, 10);
  t.deepEqual(view.holders('c1', 2, 20).map((h) => h.id), ['a'], 'b is stale at version 1');
  view.report(load('a', 1), [{ chunkId: 'c2', version: 1, length: 1 }], false, 20);
  t.deepEqual(view.chunksOf('a').sort(), ['c1', 'c2']);
  view.report(load('a', 1), [{ chunkId: 'c2', version: 1, length: 1 }], true, 30);
  t.deepEqual(view.chunksOf('a'), ['c2']);
  // Heartbeats stop: the server is no longer live, then expired.
  t.deepEqual(view.holders('c2', 1, 5000), []);
  t.deepEqual(view.expiring(5000).sort(), ['a', 'b']);
  view.expiring(5000).forEach((id) => view.remove(id));
  t.deepEqual(view.expiring(5000), []);
  t.false(view.heartbeat(load('a', 1), 5001), 'an expired server must send a full report again');
});
