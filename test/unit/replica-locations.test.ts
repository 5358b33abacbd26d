import test from 'ava';
import { formatChunkId } from '../../src/core/chunk-id.js';
import { ClusterView } from '../../src/core/cluster-view.js';
import { ReplicaLocations } from '../../src/core/replica-locations.js';
import { heldBytes } from '../helpers/heap.js';

// The property test in cluster-view.test.ts compares these rows with a Map of
// Maps; these are the cases a few random servers and ids cannot reach.

test.serial('memory: 200,000 chunks × 3 replicas take under 100 bytes a chunk (a Map of Maps took ~330)', (t) => {
  const CHUNKS = 200_000;
  const ids = Array.from({ length: CHUNKS }, (_, i) => formatChunkId(i + 1));
  for (const id of ids) parseInt(id, 16); // flat strings now, or their freed parts would count against the view
  const before = heldBytes();
  const view = new ClusterView(1_000);
  for (let r = 0; r < 3; r++) ids.forEach((id, i) => view.recordReplica(`cs-${(i + r) % 10}`, id, 7, 64 * 2 ** 20));
  const perChunk = (heldBytes() - before) / CHUNKS;
  t.true(perChunk < 100, `${perChunk.toFixed(1)} bytes a chunk`);
  t.is(view.chunksOf('cs-0').length, (CHUNKS / 10) * 3);
});

test('an id far from the others costs a page of rows, not an array reaching up to it', (t) => {
  const locations = new ReplicaLocations(3);
  const before = process.memoryUsage().arrayBuffers;
  const far = [2 ** 53 - 1, 2 ** 40, 1].map(formatChunkId);
  for (const id of far) locations.record(id, 'a', 1, 10);
  t.true(process.memoryUsage().arrayBuffers - before < 3 * 16_384, 'three pages of 7.5 KiB');
  for (const id of far) t.deepEqual(locations.replicasOf(id), [{ serverId: 'a', version: 1, length: 10 }]);
  t.deepEqual(locations.chunksOf('a').sort(), far.sort());
});

test('more servers holding replicas at once than two bytes can number: theirs spill, and a number let go serves a new server', (t) => {
  const SERVERS = 65_535 + 5;
  const locations = new ReplicaLocations(3);
  const chunk = (i: number) => formatChunkId(1 + Math.floor(i / 3));
  for (let i = 0; i < SERVERS; i++) locations.record(chunk(i), `s${i}`, i, i % 100);
  for (const i of [0, 1, 65_534, 65_535, SERVERS - 1]) {
    t.deepEqual(locations.chunksOf(`s${i}`), [chunk(i)]);
    t.true(locations.replicasOf(chunk(i)).some((r) => r.serverId === `s${i}` && r.version === i && r.length === i % 100), `s${i}`);
  }
  // s0's number goes free with its only replica, and the next new server takes it.
  locations.forget(chunk(0), 's0');
  locations.record(chunk(0), 'newcomer', 9, 9);
  t.deepEqual(locations.chunksOf('s0'), []);
  t.deepEqual(locations.chunksOf('newcomer'), [chunk(0)]);
  t.deepEqual(locations.replicasOf(chunk(0)).map((r) => r.serverId), ['s1', 's2', 'newcomer']);
  // A server that lost all its replicas is forgotten everywhere, also by its number.
  locations.forgetServer('s1');
  t.deepEqual(locations.chunksOf('s1'), []);
  t.deepEqual(locations.replicasOf(chunk(0)).map((r) => r.serverId), ['s2', 'newcomer']);
});
