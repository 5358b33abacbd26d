import test from 'ava';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { formatChunkId } from '../../src/core/chunk-id.js';
import { chooseReplicas, ClusterView, DELETES_PER_REPLY, PARTED_REPORT_STALE_MS, type ChunkserverLoad } from '../../src/core/cluster-view.js';

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

test('a full report in parts adds each part as it comes; the last forgets what no part named, but not a chunk granted meanwhile', (t) => {
  const view = new ClusterView(1000);
  const replica = (n: number) => ({ chunkId: formatChunkId(n), version: 1, length: 5 });
  const held = () => view.chunksOf('a').sort();
  view.report(load('a', 1), [replica(1), replica(2), replica(3)], true, 10);
  view.report(load('a', 1), [replica(1)], true, 20, { report: 'r', first: true, last: false });
  t.deepEqual(held(), [1, 2, 3].map(formatChunkId), 'nothing is forgotten before the last part');
  view.recordReplica('a', formatChunkId(9), 1, 0); // a lease grant's new chunk, after the server listed its chunks
  view.report(load('a', 1), [replica(4)], true, 30, { report: 'r', first: false, last: false });
  view.report(load('a', 1), [replica(2)], true, 40, { report: 'r', first: false, last: true });
  t.deepEqual(held(), [1, 2, 4, 9].map(formatChunkId), 'chunk 3, which no part named, is forgotten');
  // Parts whose first the master did not see (it started meanwhile) only add.
  const restarted = new ClusterView(1000);
  restarted.report(load('a', 1), [replica(5)], true, 10);
  restarted.report(load('a', 1), [replica(6)], true, 20, { report: 'r', first: false, last: true });
  t.deepEqual(restarted.chunksOf('a').sort(), [5, 6].map(formatChunkId));
});

test('two full reports in parts from one server at once (a new master reads one, the server sends its own): each settles by what it named', (t) => {
  const view = new ClusterView(1000);
  const replica = (n: number) => ({ chunkId: formatChunkId(n), version: 1, length: 5 });
  const held = () => view.chunksOf('a').sort();
  view.report(load('a', 1), [replica(1), replica(2), replica(7)], true, 10); // 7: deleted on the server since
  view.report(load('a', 1), [replica(1)], true, 20, { report: 'takeover', first: true, last: false });
  view.report(load('a', 1), [replica(1)], true, 21, { report: 'push', first: true, last: false });
  view.report(load('a', 1), [replica(2)], true, 22, { report: 'takeover', first: false, last: true });
  t.deepEqual(held(), [1, 2].map(formatChunkId), 'the takeover report named 1 and 2: 7 goes, nothing it named is lost');
  view.report(load('a', 1), [replica(2)], true, 23, { report: 'push', first: false, last: true });
  t.deepEqual(held(), [1, 2].map(formatChunkId));
});

test('a report in parts that stops part-way: after a while the server\'s heartbeat is told it is unknown, so it sends a full report again', (t) => {
  const view = new ClusterView(1000_000);
  t.false(view.heartbeat(load('a', 1), 0));
  view.report(load('a', 1), [{ chunkId: formatChunkId(1), version: 1, length: 5 }], true, 10, { report: 'r', first: true, last: false });
  t.true(view.heartbeat(load('a', 1), 10 + PARTED_REPORT_STALE_MS), 'still under way');
  t.false(view.heartbeat(load('a', 1), 11 + PARTED_REPORT_STALE_MS), 'stopped part-way: report again');
  t.true(view.heartbeat(load('a', 1), 12 + PARTED_REPORT_STALE_MS), 'asked once');
  // Its last part, late, settles nothing: the report was given up.
  view.report(load('a', 1), [], true, 13 + PARTED_REPORT_STALE_MS, { report: 'r', first: false, last: true });
  t.deepEqual(view.chunksOf('a'), [formatChunkId(1)]);
});

test('deletions for a server go out at most DELETES_PER_REPLY per heartbeat reply, the rest with the next ones', (t) => {
  const view = new ClusterView(1000);
  view.heartbeat(load('a', 1), 0);
  const doomed = Array.from({ length: 2 * DELETES_PER_REPLY + 123 }, (_, i) => formatChunkId(i + 1));
  for (const chunkId of doomed) view.scheduleDeleteOn('a', chunkId);
  const replies = [view.takeDeletes('a'), view.takeDeletes('a'), view.takeDeletes('a'), view.takeDeletes('a')];
  t.deepEqual(replies.map((r) => r.length), [DELETES_PER_REPLY, DELETES_PER_REPLY, 123, 0]);
  t.deepEqual(replies.flat(), doomed);
});

test('a new start of a server under the same id (quicker than its ZooKeeper session) must send a full report, which replaces what it held before', (t) => {
  const view = new ClusterView(1000);
  const first = { ...load('a', 1), incarnation: 'one' };
  t.false(view.heartbeat(first, 0));
  view.report(first, [{ chunkId: 'c1', version: 1, length: 5 }], true, 0);
  t.true(view.heartbeat(first, 10));
  t.deepEqual(view.holders('c1', 1, 10).map((h) => h.id), ['a']);
  // Restarted with its disk emptied: the first heartbeat of the new process is answered "unknown"...
  const second = { ...load('a', 1), incarnation: 'two' };
  t.false(view.heartbeat(second, 20), 'a new incarnation is unknown');
  // ...and its full report, of nothing, leaves the chunk with no holder.
  view.report(second, [], true, 20);
  t.deepEqual(view.holders('c1', 1, 30), []);
  t.true(view.heartbeat(second, 30));
});

/**
 * What ClusterView promises of replicas, as it kept them before its compact
 * rows: a Map of Maps in the order replicas were first recorded.
 */
class MapOfMapsView {
  private readonly beats = new Map<string, number>();
  private readonly replicas = new Map<string, Map<string, { version: number; length: number }>>();
  private readonly doomed = new Map<string, Set<string>>();

  constructor(private readonly timeout: number) {}

  heartbeat(id: string, now: number): void {
    this.beats.set(id, now);
  }

  record(serverId: string, chunkId: string, version: number, length: number): void {
    if (!this.replicas.has(chunkId)) this.replicas.set(chunkId, new Map());
    this.replicas.get(chunkId)!.set(serverId, { version, length });
  }

  forget(chunkId: string, serverId: string): void {
    this.replicas.get(chunkId)?.delete(serverId);
  }

  forgetServer(serverId: string): void {
    for (const holders of this.replicas.values()) holders.delete(serverId);
  }

  remove(serverId: string): void {
    this.beats.delete(serverId);
    this.forgetServer(serverId);
  }

  doom(serverId: string, chunkId: string): void {
    this.forget(chunkId, serverId);
    if (!this.doomed.has(serverId)) this.doomed.set(serverId, new Set());
    this.doomed.get(serverId)!.add(chunkId);
  }

  takeDeletes(serverId: string): string[] {
    const chunks = [...(this.doomed.get(serverId) ?? [])];
    this.doomed.delete(serverId);
    return chunks;
  }

  holderIds(chunkId: string): string[] {
    return [...(this.replicas.get(chunkId)?.keys() ?? [])];
  }

  /** Live replicas, as [server, version, length]. */
  live(chunkId: string, now: number): [string, number, number][] {
    return [...(this.replicas.get(chunkId) ?? [])]
      .filter(([id]) => this.beats.has(id) && now - this.beats.get(id)! <= this.timeout)
      .map(([id, { version, length }]) => [id, version, length]);
  }

  chunksOf(serverId: string): string[] {
    return [...this.replicas].filter(([, holders]) => holders.has(serverId)).map(([chunkId]) => chunkId);
  }
}

/** More servers than a row has slots. */
const SERVERS = ['a', 'b', 'c', 'd', 'e'];
/**
 * Dense ids in one page and the next; one far beyond (a page of its own); the
 * largest a number holds exactly; two beyond it that a number cannot tell
 * apart; and ids that are no chunk number at all.
 */
const CHUNK_IDS = [1, 2, 255, 256, 2 ** 40, 2 ** 53 - 1].map(formatChunkId).concat(['ffffffffffffff00', 'ffffffffffffff01', 'c1', '']);
/** Versions and lengths that fit a row's 32-bit cells, and some that do not. */
const VERSIONS = [0, 1, 2, 3, 2 ** 32 - 1, 2 ** 32, 2 ** 40];
const LENGTHS = [0, 5, 2 ** 30, 2 ** 32 - 1, 2 ** 32];
const TIMEOUT = 300;

const serverId = fc.constantFrom(...SERVERS);
const chunkId = fc.constantFrom(...CHUNK_IDS);
const replica = fc.record({ chunkId, version: fc.constantFrom(...VERSIONS), length: fc.constantFrom(...LENGTHS) });
const operation = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('heartbeat' as const), serverId }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('report' as const), serverId, chunks: fc.array(replica, { maxLength: 6 }), full: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constantFrom('recordReplica' as const, 'recordCopy' as const), serverId, replica }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('forgetReplica' as const, 'scheduleDeleteOn' as const, 'markCorrupt' as const), serverId, chunkId }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('scheduleDelete' as const), chunkId }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('remove' as const, 'takeDeletes' as const), serverId }) },
);
type Operation = typeof operation extends fc.Arbitrary<infer O> ? O : never;

const loadOf = (id: string): ChunkserverLoad => ({ id, address: 'tcp://127.0.0.1:7000', used: 0, free: 1, capacity: 1, chunkCount: 0 });

/** Applies `o` to both; returns what each answered, if the operation answers. */
function applyBoth(view: ClusterView, model: MapOfMapsView, o: Operation, now: number): [unknown, unknown] | undefined {
  switch (o.op) {
    case 'heartbeat':
      view.heartbeat(loadOf(o.serverId), now);
      model.heartbeat(o.serverId, now);
      return undefined;
    case 'report':
      view.report(loadOf(o.serverId), o.chunks, o.full, now);
      model.heartbeat(o.serverId, now);
      if (o.full) model.forgetServer(o.serverId);
      for (const c of o.chunks) model.record(o.serverId, c.chunkId, c.version, c.length);
      return undefined;
    case 'recordReplica':
    case 'recordCopy':
      view[o.op](o.serverId, o.replica.chunkId, o.replica.version, o.replica.length);
      model.record(o.serverId, o.replica.chunkId, o.replica.version, o.replica.length);
      return undefined;
    case 'forgetReplica':
    case 'markCorrupt':
      view[o.op](o.chunkId, o.serverId);
      model.forget(o.chunkId, o.serverId);
      return undefined;
    case 'scheduleDeleteOn':
      view.scheduleDeleteOn(o.serverId, o.chunkId);
      model.doom(o.serverId, o.chunkId);
      return undefined;
    case 'scheduleDelete':
      view.scheduleDelete(o.chunkId);
      for (const id of model.holderIds(o.chunkId)) model.doom(id, o.chunkId);
      return undefined;
    case 'remove':
      view.remove(o.serverId);
      model.remove(o.serverId);
      return undefined;
    case 'takeDeletes':
      return [view.takeDeletes(o.serverId), model.takeDeletes(o.serverId)];
  }
}

/** Throws, saying what differed, unless the view answers as the model does (fast-check then shrinks the steps). */
function expectSame(what: string, view: unknown, model: unknown): void {
  if (!isDeepStrictEqual(view, model)) throw new Error(`${what}: the view says ${JSON.stringify(view)}, the model ${JSON.stringify(model)}`);
}

const isWide = (x: number) => x >= 2 ** 32;

test('replicas: holders, reported and chunksOf answer as a Map of Maps would, whatever the ids, versions, lengths and slots per row', (t) => {
  let crowded = 0;
  let wide = 0;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.tuple(operation, fc.nat(60)), { minLength: 20, maxLength: 120 }), (slots, steps) => {
      const view = new ClusterView(TIMEOUT, slots);
      const model = new MapOfMapsView(TIMEOUT);
      let now = 0;
      for (const [o, elapsed] of steps) {
        now += elapsed;
        const answers = applyBoth(view, model, o, now);
        const after = `after ${JSON.stringify(o)} at ${now}`;
        if (answers) expectSame(`${o.op} ${after}`, answers[0], answers[1]);
        for (const id of CHUNK_IDS) {
          const live = model.live(id, now);
          if (model.holderIds(id).length > slots) crowded++;
          if (live.some(([, version, length]) => isWide(version) || isWide(length))) wide++;
          expectSame(`reported(${id}) ${after}`, view.reported(id, now), live.map(([serverId, version]) => ({ id: serverId, version })));
          for (const version of VERSIONS) {
            const holders = view.holders(id, version, now).map((h) => [h.id, h.version, h.length]);
            expectSame(`holders(${id}, ${version}) ${after}`, holders, live.filter(([, v]) => v === version));
          }
        }
        for (const id of SERVERS) expectSame(`chunksOf(${id}) ${after}`, view.chunksOf(id).sort(), model.chunksOf(id).sort());
      }
    }),
    { numRuns: 300 },
  );
  t.true(crowded > 1000, `a chunk had more replicas than slots only ${crowded} times`);
  t.true(wide > 1000, `a chunk had a replica with a version or length past 32 bits only ${wide} times`);
});
