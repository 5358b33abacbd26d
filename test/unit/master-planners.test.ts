import test from 'ava';
import { ClusterView } from '../../src/core/cluster-view.js';
import { decideChunksUpTo, decideCollectGarbage, decideCreate, decideDelete, decideExtend, decideMkdir, decideRename } from '../../src/core/commands.js';
import { OfsError } from '../../src/core/errors.js';
import {
  acceptCopy,
  adoptHigherVersions,
  balanceMove,
  dropReplica,
  garbageIn,
  prepareLease,
  recordGrant,
  ownedLengths,
  replicationNeeds,
  sizesFromLengths,
} from '../../src/core/master-planners.js';
import { fsck, locate } from '../../src/core/master-queries.js';
import { CHUNK, chunkOf, ids, NOW, run, sequence, server, settings, TIMEOUT, versionOf, viewOf, withFile } from '../helpers/master-state.js';
import { formatChunkId } from '../../src/core/chunk-id.js';
import { applyAll, emptyNamespace, lookup, ownedChunks, type FileNode, type Namespace } from '../../src/core/namespace.js';
import { UNCHECKED } from '../../src/core/permissions.js';

// prepareLease

test('prepareLease on a written chunk: its live holders at its version, nothing to journal', (t) => {
  const ns = withFile(emptyNamespace, '/f', 150, [2, 1]);
  const c0 = chunkOf(ns, '/f', 0);
  const view = viewOf(['a', 'b', 'c', 'e'], ['dead']);
  view.recordReplica('a', c0, 2, 100);
  view.recordReplica('b', c0, 2, 100);
  view.recordReplica('c', c0, 1, 100); // stale
  view.recordReplica('dead', c0, 2, 100);
  const { candidate, events } = prepareLease(ns, view, settings, '/f', 0, NOW, 0);
  t.deepEqual(events, []);
  t.like(candidate, { path: '/f', index: 0, chunkId: c0, version: 2 });
  t.deepEqual(candidate.candidates.sort((x, y) => x.id.localeCompare(y.id)), [
    { id: 'a', address: 'tcp://a.ofs:7000' },
    { id: 'b', address: 'tcp://b.ofs:7000' },
  ]);
  t.deepEqual([...candidate.liveIds].sort(), ['a', 'b', 'c', 'e']);
  // 'last' is the file's last chunk.
  const c1 = chunkOf(ns, '/f', 1);
  view.recordReplica('e', c1, 1, 50);
  const last = prepareLease(ns, view, settings, '/f', 'last', NOW, 0);
  t.like(last.candidate, { index: 1, chunkId: c1, version: 1 });
  t.deepEqual(ids(last.candidate.candidates), ['e']);
  // A written chunk whose holders are all gone: no candidates (the lease manager says so), but no new placement either.
  const lost = prepareLease(ns, view, settings, '/f', 0, NOW + TIMEOUT + 1, 0);
  t.deepEqual(lost.candidate.candidates, []);
  t.deepEqual(lost.events, []);
});

test('prepareLease on a new chunk: allocates up to it and places it on the least filled servers with room', (t) => {
  let ns = withFile(emptyNamespace, '/other', 10, [1]); // chunk ids move on
  ns = withFile(ns, '/g', 0);
  const view = viewOf([
    server('half', 500, 500),
    server('empty', 0, 1000),
    server('tenth', 100, 900),
    server('tiny', 0, CHUNK - 1), // least filled, but no room for a chunk
    server('third', 300, 700),
  ]);
  const { candidate, events } = prepareLease(ns, view, settings, '/g', 2, NOW, 0);
  t.deepEqual(
    events,
    [0, 1, 2].map((index) => ({ type: 'ChunkAllocated', path: '/g', index, chunkId: formatChunkId(ns.nextChunkId + index), version: 0 })),
  );
  t.like(candidate, { path: '/g', index: 2, chunkId: formatChunkId(ns.nextChunkId + 2), version: 0 });
  t.deepEqual(candidate.candidates.map((c) => c.id), ['empty', 'tenth', 'third']);
  t.deepEqual(candidate.candidates[0], { id: 'empty', address: 'tcp://empty.ofs:7000' });
  t.is(candidate.liveIds.length, 5);
  // The events apply: the file now has the chunks, none of them an id already used.
  ns = run(ns, events);
  t.is((lookup(ns, '/g') as FileNode).chunks.length, 3);
  t.is(chunkOf(ns, '/g', 2), candidate.chunkId);
  t.is(ownedChunks(ns).size, 4);
  // An allocated chunk never written (index 0 here) is placed afresh, with nothing more to allocate.
  const hole = prepareLease(ns, view, settings, '/g', 0, NOW, 0);
  t.deepEqual(hole.events, []);
  t.like(hole.candidate, { chunkId: chunkOf(ns, '/g', 0), version: 0 });
  t.deepEqual(hole.candidate.candidates.map((c) => c.id), ['empty', 'tenth', 'third']);
  t.is(hole.candidate.versionFloor, 0);
  // A first try never journaled left replicas behind (a master died in the round, or one took it late): the grant goes above them.
  view.recordReplica('half', chunkOf(ns, '/g', 0), 3, 0);
  view.recordReplica('tiny', chunkOf(ns, '/g', 0), 1, 0);
  t.is(prepareLease(ns, view, settings, '/g', 0, NOW, 0).candidate.versionFloor, 3);
  // And above every version an earlier epoch could have tried: a master of epoch 2 starts above 2·2^20.
  t.is(prepareLease(ns, view, settings, '/g', 0, NOW, 2).candidate.versionFloor, 2 * 2 ** 20);
  view.recordReplica('half', chunkOf(ns, '/g', 0), 2 * 2 ** 20 + 7, 0);
  t.is(prepareLease(ns, view, settings, '/g', 0, NOW, 2).candidate.versionFloor, 2 * 2 ** 20 + 7);
});

test("prepareLease 'last' on an empty file allocates chunk 0; fewer servers than replicas gives fewer candidates", (t) => {
  const ns = withFile(emptyNamespace, '/empty', 0);
  const view = viewOf(['a', server('tight', 0, CHUNK - 1), 'b']);
  const { candidate, events } = prepareLease(ns, view, settings, '/empty', 'last', NOW, 0);
  t.deepEqual(events, [{ type: 'ChunkAllocated', path: '/empty', index: 0, chunkId: formatChunkId(ns.nextChunkId), version: 0 }]);
  t.like(candidate, { index: 0, version: 0 });
  t.deepEqual(ids(candidate.candidates), ['a', 'b']);
});

test('prepareLease refuses: ENOENT, EISDIR, EUNAVAILABLE before any chunkserver reports, ENOSPC when all are full', (t) => {
  let ns = withFile(emptyNamespace, '/d/f', 0);
  const view = viewOf(['a']);
  t.throws(() => prepareLease(ns, view, settings, '/d/nope', 0, NOW, 0), { instanceOf: OfsError, code: 'ENOENT' });
  t.throws(() => prepareLease(ns, view, settings, '/d', 0, NOW, 0), { instanceOf: OfsError, code: 'EISDIR' });
  t.throws(() => prepareLease(ns, new ClusterView(TIMEOUT), settings, '/d/f', 0, NOW, 0), { instanceOf: OfsError, code: 'EUNAVAILABLE' });
  t.throws(() => prepareLease(ns, viewOf([], ['gone']), settings, '/d/f', 0, NOW, 0), { code: 'EUNAVAILABLE' }, 'only dead servers: none live');
  const full = viewOf([server('x', 1000, CHUNK - 1), server('y', 1000, 0)]);
  t.throws(() => prepareLease(ns, full, settings, '/d/f', 0, NOW, 0), { instanceOf: OfsError, code: 'ENOSPC', message: /2 live/ });
  // A written chunk needs no room: its lease goes to its holders even on full servers.
  ns = withFile(ns, '/d/w', 10, [1]);
  full.recordReplica('x', chunkOf(ns, '/d/w', 0), 1, 10);
  t.deepEqual(ids(prepareLease(ns, full, settings, '/d/w', 0, NOW, 0).candidate.candidates), ['x']);
});

// recordGrant

test('recordGrant: the replicas that took the lease hold the new version, the failed ones are forgotten, the bump is journaled', (t) => {
  let ns = withFile(emptyNamespace, '/f', 40, [1]);
  const chunkId = chunkOf(ns, '/f', 0);
  const view = viewOf(['a', 'b', 'c']);
  view.recordReplica('a', chunkId, 1, 40);
  view.recordReplica('c', chunkId, 1, 40);
  const events = recordGrant(view, ownedChunks(ns), {
    path: '/f',
    index: 0,
    chunkId,
    version: 2,
    replicas: [
      { id: 'a', address: 'tcp://a.ofs:7000', length: 40 },
      { id: 'b', address: 'tcp://b.ofs:7000', length: 40 },
    ],
    failed: ['c'],
  });
  t.deepEqual(events, [{ type: 'ChunkVersionBumped', path: '/f', index: 0, chunkId, version: 2 }]);
  ns = run(ns, events);
  t.is(versionOf(ns, '/f', 0), 2);
  t.deepEqual(ids(locate(ns, view, settings, '/f', NOW).chunks[0]!.replicas), ['a', 'b']);
  t.deepEqual(view.reported(chunkId, NOW).map((r) => r.id).sort(), ['a', 'b'], 'c is neither live nor stale: unknown until it reports');
  t.deepEqual(view.holders(chunkId, 2, NOW).map((h) => h.length), [40, 40]);
});

test('recordGrant after the file was renamed, replaced or deleted during the grant: the bump follows the chunk, or ENOENT', (t) => {
  const ns = withFile(emptyNamespace, '/f', 40, [1]);
  const chunkId = chunkOf(ns, '/f', 0);
  const lease = { path: '/f', index: 0, chunkId, version: 2, replicas: [{ id: 'a', address: 'tcp://a.ofs:7000', length: 40 }], failed: [] };
  const renamed = run(ns, decideRename(ns, '/f', '/g', NOW, UNCHECKED));
  const events = recordGrant(viewOf(['a']), ownedChunks(renamed), lease);
  t.deepEqual(events, [{ type: 'ChunkVersionBumped', path: '/g', index: 0, chunkId, version: 2 }]);
  t.is(versionOf(run(renamed, events), '/g', 0), 2, 'the bump applies to the file where it is now');
  const replaced = run(ns, decideCreate(ns, '/f', true, NOW, UNCHECKED));
  t.throws(() => recordGrant(viewOf(['a']), ownedChunks(replaced), lease), { instanceOf: OfsError, code: 'ENOENT', message: /belongs to no file/ });
  const view = viewOf(['a']);
  t.throws(() => recordGrant(view, new Map(), lease), { instanceOf: OfsError, code: 'ENOENT' });
  t.deepEqual(view.reported(chunkId, NOW), [], 'nothing is noted of a chunk no file holds');
});

// replicationNeeds

test('replicationNeeds: written chunks short of replicas with at least one live holder, and whether their file is read', (t) => {
  let ns = emptyNamespace;
  ns = withFile(ns, '/full', 10, [1]);
  ns = withFile(ns, '/short1', 10, [1]);
  ns = withFile(ns, '/hot/short2', 10, [3]);
  ns = withFile(ns, '/lost', 10, [1]);
  ns = withFile(ns, '/hole', 110, [0, 1]); // chunk 0 never written; chunk 1 on one server
  const c = (path: string, index = 0) => chunkOf(ns, path, index);
  const view = viewOf([server('a', 0, 500), server('b', 0, 600), server('c', 0, 700), server('e', 0, 800)], ['dead']);
  for (const id of ['a', 'b', 'c']) view.recordReplica(id, c('/full'), 1, 10);
  for (const id of ['a', 'b']) view.recordReplica(id, c('/short1'), 1, 10);
  view.recordReplica('c', c('/hot/short2'), 3, 10);
  view.recordReplica('a', c('/hot/short2'), 2, 10); // stale: no source, no count
  view.recordReplica('dead', c('/lost'), 1, 10);
  view.recordReplica('e', c('/hole', 1), 1, 10);
  view.recordReplica('a', c('/hole', 0), 0, 0); // a replica created for a lease that never completed: nothing written to copy
  const needs = replicationNeeds(ownedChunks(ns), view, settings, (path) => path.startsWith('/hot/'), NOW);
  const byPath = needs.chunks
    .map(({ path, index, chunkId, version, missing, readLately, candidates, liveIds }) => ({
      path,
      index,
      chunkId,
      version,
      missing,
      readLately,
      sources: ids(candidates),
      live: [...liveIds].sort(),
    }))
    .sort((x, y) => x.path.localeCompare(y.path));
  const live = ['a', 'b', 'c', 'e'];
  t.deepEqual(byPath, [
    { path: '/hole', index: 1, chunkId: c('/hole', 1), version: 1, missing: 2, readLately: false, sources: ['e'], live },
    { path: '/hot/short2', index: 0, chunkId: c('/hot/short2'), version: 3, missing: 2, readLately: true, sources: ['c'], live },
    { path: '/short1', index: 0, chunkId: c('/short1'), version: 1, missing: 1, readLately: false, sources: ['a', 'b'], live },
  ]);
  t.deepEqual(
    needs.servers.sort((x, y) => x.id.localeCompare(y.id)),
    ['a', 'b', 'c', 'e'].map((id, i) => ({ id, address: `tcp://${id}.ofs:7000`, free: 500 + 100 * i })),
  );
  // With replication 2, /short1 is whole.
  const two = replicationNeeds(ownedChunks(ns), view, { ...settings, replication: 2 }, () => false, NOW);
  t.deepEqual(two.chunks.map((x) => x.path).sort(), ['/hole', '/hot/short2']);
});

// balanceMove

test('balanceMove: a fully replicated chunk from the fullest server to the emptiest; none when balanced', (t) => {
  const two = { ...settings, replication: 2 };
  let ns = emptyNamespace;
  ns = withFile(ns, '/a-under', 10, [1]); // first in owner order, but on one server only: never moved
  ns = withFile(ns, '/b-hole', 10); // never written
  ns = withFile(ns, '/c-both', 10, [1]); // already on the emptiest
  ns = withFile(ns, '/d-movable', 80, [4]);
  const c = (path: string) => chunkOf(ns, path, 0);
  const view = viewOf([server('full', 900, 100), server('empty', 0, 1000), server('mid', 500, 500)]);
  view.recordReplica('full', c('/a-under'), 1, 10);
  view.recordReplica('full', c('/b-hole'), 0, 0); // created by a lease that never completed: not worth moving
  view.recordReplica('mid', c('/b-hole'), 0, 0);
  view.recordReplica('full', c('/c-both'), 1, 10);
  view.recordReplica('empty', c('/c-both'), 1, 10);
  view.recordReplica('full', c('/d-movable'), 4, 80);
  view.recordReplica('mid', c('/d-movable'), 4, 80);
  const plan = balanceMove(ownedChunks(ns), view, two, 0.1, NOW);
  t.true(Math.abs(plan.spread - 0.9) < 1e-9, `spread ${plan.spread}`);
  t.truthy(plan.move);
  t.deepEqual(plan.move!.from, { id: 'full', address: 'tcp://full.ofs:7000' });
  t.deepEqual(plan.move!.to, { id: 'empty', address: 'tcp://empty.ofs:7000' });
  t.like(plan.move!.chunk, { path: '/d-movable', index: 0, chunkId: c('/d-movable'), version: 4 });
  t.deepEqual(ids(plan.move!.chunk.candidates), ['full', 'mid'], 'copied from a holder at the current version');
  t.deepEqual([...plan.move!.chunk.liveIds].sort(), ['empty', 'full', 'mid']);
  // Spread within the threshold: nothing moves, the spread is still told.
  const calm = balanceMove(ownedChunks(ns), view, two, 0.95, NOW);
  t.is(calm.move, undefined);
  t.true(Math.abs(calm.spread - 0.9) < 1e-9);
  // At replication 3 no chunk is fully replicated: nothing may move.
  t.is(balanceMove(ownedChunks(ns), view, settings, 0.1, NOW).move, undefined);
});

// garbageIn and adoptHigherVersions

test('garbageIn: replicas of chunks no file owns, or below the file version; adoptHigherVersions: bumps for those above', (t) => {
  let ns = withFile(emptyNamespace, '/f', 150, [2, 1]);
  const [a, b] = [chunkOf(ns, '/f', 0), chunkOf(ns, '/f', 1)];
  const orphan = formatChunkId(999);
  const owners = ownedChunks(ns);
  const reported = [
    { chunkId: a, version: 2 },
    { chunkId: b, version: 3 },
    { chunkId: orphan, version: 1 },
  ];
  t.deepEqual(garbageIn(owners, reported), [orphan]);
  t.deepEqual(garbageIn(owners, [{ chunkId: a, version: 1 }, { chunkId: b, version: 0 }]), [a, b], 'stale replicas are garbage');
  t.deepEqual(garbageIn(owners, []), []);
  const adopted = adoptHigherVersions(owners, reported);
  t.deepEqual(adopted, [{ type: 'ChunkVersionBumped', path: '/f', index: 1, chunkId: b, version: 3 }]);
  ns = run(ns, adopted);
  t.deepEqual([versionOf(ns, '/f', 0), versionOf(ns, '/f', 1)], [2, 3]);
  t.deepEqual(adoptHigherVersions(owners, [{ chunkId: a, version: 2 }, { chunkId: a, version: 1 }, { chunkId: orphan, version: 7 }]), []);
  // A chunk at version 0 adopts nothing: no client had a lease on it, so a replica above it is a first try's, never journaled.
  const placed = withFile(ns, '/h', 0);
  const fresh = run(placed, decideChunksUpTo(placed, '/h', 0, 0));
  t.deepEqual(adoptHigherVersions(ownedChunks(fresh), [{ chunkId: chunkOf(fresh, '/h', 0), version: 2 }]), []);
  t.deepEqual(garbageIn(ownedChunks(fresh), [{ chunkId: chunkOf(fresh, '/h', 0), version: 2 }]), [], 'nor is it garbage yet: the grant above it makes it stale');
  // After a rename the bump names the file where it is now.
  ns = run(ns, decideRename(ns, '/f', '/g', 5, UNCHECKED));
  const moved = adoptHigherVersions(ownedChunks(ns), [{ chunkId: a, version: 5 }]);
  t.deepEqual(moved, [{ type: 'ChunkVersionBumped', path: '/g', index: 0, chunkId: a, version: 5 }]);
  t.is(versionOf(run(ns, moved), '/g', 0), 5);
});

// dropReplica and acceptCopy

test('dropReplica: a surplus replica goes (on the next heartbeat), never one that would leave fewer than the replica count', (t) => {
  const two = { ...settings, replication: 2 };
  const ns = withFile(emptyNamespace, '/f', 10, [3]);
  const chunkId = chunkOf(ns, '/f', 0);
  const owners = ownedChunks(ns);
  const view = viewOf(['a', 'b', 'c', 'e']);
  for (const id of ['a', 'b', 'c']) view.recordReplica(id, chunkId, 3, 10);
  view.recordReplica('e', chunkId, 2, 10); // stale: does not count
  t.true(dropReplica(owners, view, two, chunkId, 'a', NOW));
  t.deepEqual(ids(view.holders(chunkId, 3, NOW)), ['b', 'c']);
  t.deepEqual(view.takeDeletes('a'), [chunkId]);
  t.false(dropReplica(owners, view, two, chunkId, 'b', NOW), 'two left: at the replica count');
  t.deepEqual(view.takeDeletes('b'), []);
  t.deepEqual(ids(view.holders(chunkId, 3, NOW)), ['b', 'c']);
  // A dead holder does not count either.
  view.recordReplica('a', chunkId, 3, 10);
  view.heartbeat(server('a'), NOW - TIMEOUT - 1);
  t.false(dropReplica(owners, view, two, chunkId, 'b', NOW));
  t.false(dropReplica(owners, view, two, formatChunkId(999), 'b', NOW), 'a chunk no file owns');
});

test('acceptCopy: a finished copy counts only at the current version, and replaces a corrupt replica', (t) => {
  const ns = withFile(emptyNamespace, '/f', 10, [2]);
  const chunkId = chunkOf(ns, '/f', 0);
  const owners = ownedChunks(ns);
  const view = viewOf(['a', 'b', 'c']);
  view.recordReplica('a', chunkId, 2, 10);
  view.recordReplica('b', chunkId, 2, 10);
  view.markCorrupt(chunkId, 'b');
  t.false(acceptCopy(owners, view, { chunkId, version: 1, serverId: 'c', length: 10 }), 'a lease bumped the version during the copy');
  t.deepEqual(view.reported(chunkId, NOW).map((r) => r.id), ['a']);
  t.true(acceptCopy(owners, view, { chunkId, version: 2, serverId: 'c', length: 10 }));
  t.deepEqual(ids(view.holders(chunkId, 2, NOW)), ['a', 'c']);
  const checked = fsck(ns, view, settings, '/f', NOW).files[0]!.chunks[0]!;
  t.deepEqual(checked.corrupt, [], 'the copy replaced the corrupt replica');
  t.false(acceptCopy(owners, view, { chunkId: formatChunkId(999), version: 1, serverId: 'c', length: 1 }));
  t.deepEqual(view.chunksOf('c'), [chunkId]);
});

test('sizesFromLengths: a file grows to the end of the reported bytes of its chunk, at its version only; one event per file', (t) => {
  // /f: chunk 0 full (v2), chunk 1 holding 20 of its bytes (v3), as the master recorded them.
  let ns = withFile(emptyNamespace, '/f', 120, [2, 3]);
  ns = withFile(ns, '/g', 50, [1]);
  const [f0, f1, g0] = [chunkOf(ns, '/f', 0), chunkOf(ns, '/f', 1), chunkOf(ns, '/g', 0)];
  const at = (path: string, index: number, chunkId: string, version: number, length: number) => ({ path, index, chunkId, version, length });
  const events = sizesFromLengths(
    ns,
    [
      at('/f', 1, f1, 3, 60), // appends took chunk 1 to 60 bytes: /f is 160 long
      at('/f', 1, f1, 3, 45), // another replica, behind: the longest counts
      at('/f', 0, f0, 2, 100), // no growth from a full earlier chunk
      at('/g', 0, g0, 0, 90), // a stale version: not trusted
      at('/g', 0, f0, 1, 90), // not /g's chunk at that index
      at('/gone', 0, g0, 1, 90), // no such file
      at('/f', 1, f1, 3, 0),
    ],
    CHUNK,
    NOW,
  );
  t.deepEqual(events, [{ type: 'FileExtended', path: '/f', size: 160, mtime: NOW }]);
  // Lengths the master already has change nothing.
  t.deepEqual(sizesFromLengths(run(ns, events), [at('/f', 1, f1, 3, 60)], CHUNK, NOW), []);
  // Reported replicas get their file and index from the chunk owners; unowned ones are dropped.
  t.deepEqual(ownedLengths(ownedChunks(ns), [{ chunkId: g0, version: 1, length: 70 }, { chunkId: formatChunkId(999), version: 1, length: 1 }]), [
    { chunkId: g0, version: 1, length: 70, path: '/g', index: 0 },
  ]);
});
