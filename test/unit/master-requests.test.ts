import test from 'ava';
import { formatChunkId } from '../../src/core/chunk-id.js';
import { ClusterView } from '../../src/core/cluster-view.js';
import * as decide from '../../src/core/commands.js';
import { OfsError } from '../../src/core/errors.js';
import type { UnsequencedEvent } from '../../src/core/events.js';
import { fsck, list, locate } from '../../src/core/master-queries.js';
import { decideRequest, type Decision, type MasterView } from '../../src/core/master-requests.js';
import { emptyNamespace, lookup, ownedChunks, type FileNode, type Namespace } from '../../src/core/namespace.js';
import type { MessageType } from '../../src/transport/protocol.js';
import { CHUNK, chunkOf, NOW, run, server, settings, TIMEOUT, versionOf, withFile } from '../helpers/master-state.js';
import { remembers } from '../../src/core/retry-cache.js';
import { SUPERGROUP, SUPERUSER, UNCHECKED } from '../../src/core/permissions.js';

const stateOf = (ns: Namespace, view = new ClusterView(TIMEOUT)): MasterView => ({ ns, view, owners: () => ownedChunks(ns) });

/** Decides a request against `ns` and, like the master actor, applies its events; returns both. */
function request(ns: Namespace, type: MessageType, body: object, now = NOW, view?: ClusterView): { decision: Decision; ns: Namespace } {
  const decision = decideRequest(stateOf(ns, view), settings, type, body, now, UNCHECKED);
  return { decision, ns: run(ns, decision.events) };
}

/** A namespace with a directory, a file in it, and a file in the trash (to undelete). */
function base(): Namespace {
  let ns = withFile(emptyNamespace, '/d/f', 150, [1, 1]);
  ns = withFile(ns, '/old', 10, [1]);
  return run(ns, decide.decideDelete(ns, '/old', false, 500, UNCHECKED));
}

interface MutationCase {
  type: MessageType;
  body: Record<string, unknown>;
  /** What the command functions decide for the same request. */
  expected: (ns: Namespace, now: number) => UnsequencedEvent[];
  reply: object;
  /** What a user sees afterwards. */
  check: (ns: Namespace) => boolean;
  /** Would the same request, decided again from scratch, fail? (Then the retry cache is what saves a retry.) */
  againFails: boolean;
}

const created = { chunkSize: CHUNK, replication: 3 };
const mutations: MutationCase[] = [
  {
    type: 'master.mkdir',
    body: { path: '/d/x/y', parents: true },
    expected: (ns, now) => decide.decideMkdir(ns, '/d/x/y', true, now, UNCHECKED),
    reply: {},
    check: (ns) => lookup(ns, '/d/x/y')?.kind === 'dir',
    againFails: false,
  },
  {
    type: 'master.mkdir',
    body: { path: '/d/single', parents: false },
    expected: (ns, now) => decide.decideMkdir(ns, '/d/single', false, now, UNCHECKED),
    reply: {},
    check: (ns) => lookup(ns, '/d/single')?.kind === 'dir',
    againFails: true,
  },
  {
    type: 'master.create',
    body: { path: '/e/new/file', overwrite: false },
    expected: (ns, now) => decide.decideCreate(ns, '/e/new/file', false, now, UNCHECKED),
    reply: created,
    check: (ns) => lookup(ns, '/e/new/file')?.kind === 'file',
    againFails: true,
  },
  {
    type: 'master.create',
    body: { path: '/d/f', overwrite: true },
    expected: (ns, now) => decide.decideCreate(ns, '/d/f', true, now, UNCHECKED),
    reply: created,
    check: (ns) => (lookup(ns, '/d/f') as FileNode).chunks.length === 0,
    againFails: false,
  },
  {
    type: 'master.extend',
    body: { path: '/d/f', size: 180 },
    expected: (ns, now) => decide.decideExtend(ns, '/d/f', 180, CHUNK, now),
    reply: {},
    check: (ns) => (lookup(ns, '/d/f') as FileNode).size === 180,
    againFails: false,
  },
  {
    type: 'master.delete',
    body: { path: '/d', recursive: true },
    expected: (ns, now) => decide.decideDelete(ns, '/d', true, now, UNCHECKED),
    reply: {},
    check: (ns) => lookup(ns, '/d') === undefined,
    againFails: true,
  },
  {
    type: 'master.undelete',
    body: { path: '/old' },
    expected: (ns, now) => decide.decideUndelete(ns, '/old', now, UNCHECKED),
    reply: {},
    check: (ns) => lookup(ns, '/old')?.kind === 'file',
    againFails: true,
  },
  {
    type: 'master.rename',
    body: { from: '/d/f', to: '/d/g' },
    expected: (ns, now) => decide.decideRename(ns, '/d/f', '/d/g', now, UNCHECKED),
    reply: {},
    check: (ns) => lookup(ns, '/d/g')?.kind === 'file' && lookup(ns, '/d/f') === undefined,
    againFails: true,
  },
];

for (const m of mutations) {
  test(`${m.type} ${JSON.stringify(m.body)}: the command's events, the request id on the last; a retry is answered without events`, (t) => {
    const ns = base();
    const requestId = `req-${m.type}`;
    const { decision, ns: after } = request(ns, m.type, { ...m.body, requestId }, 777);
    const expected = m.expected(ns, 777);
    t.true(expected.length > 0);
    t.deepEqual(decision.reply, m.reply);
    t.deepEqual(decision.events, [...expected.slice(0, -1), { ...expected.at(-1)!, requestId }]);
    t.true(m.check(after));
    t.true(remembers(after.recentRequests, requestId));
    // The reply was lost; the client retries with the same id.
    const retry = decideRequest(stateOf(after), settings, m.type, { ...m.body, requestId }, 888, UNCHECKED);
    t.deepEqual(retry, { reply: m.reply, events: [] });
    // The same request under a new id is decided afresh.
    const fresh = () => decideRequest(stateOf(after), settings, m.type, { ...m.body, requestId: 'other' }, 888, UNCHECKED);
    if (m.againFails) t.throws(fresh, { instanceOf: OfsError });
    else t.notThrows(fresh);
    // Without a request id nothing is tagged.
    t.deepEqual(decideRequest(stateOf(ns), settings, m.type, m.body, 777, UNCHECKED).events, expected);
  });
}

test('mutations: paths are normalized; errors of the commands come through; no-op requests journal nothing', (t) => {
  const ns = base();
  const { decision } = request(ns, 'master.mkdir', { path: '/d/trailing/', parents: false, requestId: 'r1' }, 5);
  t.deepEqual(decision.events, [{ type: 'DirectoryCreated', path: '/d/trailing', mtime: 5, owner: SUPERUSER, group: SUPERGROUP, mode: 0o755, requestId: 'r1' }]);
  t.throws(() => decideRequest(stateOf(ns), settings, 'master.create', { path: '/d/f', overwrite: false, requestId: 'r2' }, 5, UNCHECKED), {
    instanceOf: OfsError,
    code: 'EEXIST',
  });
  t.throws(() => decideRequest(stateOf(ns), settings, 'master.mkdir', { path: 'relative', parents: true }, 5, UNCHECKED), { code: 'EINVAL' });
  t.throws(() => decideRequest(stateOf(ns), settings, 'master.rename', { from: '/d/nope', to: '/d/g' }, 5, UNCHECKED), { code: 'ENOENT' });
  t.throws(() => decideRequest(stateOf(ns), settings, 'master.extend', { path: '/d/f', size: 201 }, 5, UNCHECKED), { code: 'EINVAL' });
  // Already so: nothing to journal, so nothing to remember either (the retry decides the same again).
  const noop = request(ns, 'master.mkdir', { path: '/d', parents: true, requestId: 'r3' });
  t.deepEqual(noop.decision, { reply: {}, events: [] });
  t.false(remembers(noop.ns.recentRequests, 'r3'));
  t.deepEqual(request(ns, 'master.extend', { path: '/d/f', size: 100, requestId: 'r4' }).decision.events, []);
});

test('the retry cache answers only the mutating types; a query with a known id is still answered', (t) => {
  const { ns } = request(base(), 'master.mkdir', { path: '/seen', parents: false, requestId: 'seen' });
  const listed = decideRequest(stateOf(ns), settings, 'master.list', { path: '/', requestId: 'seen' }, NOW, UNCHECKED);
  t.deepEqual((listed.reply as ReturnType<typeof list>).entries.map((e) => e.name), ['.trash', 'd', 'seen']);
});

test('heartbeat: known only after the first; hands out pending deletions once; leases are extended elsewhere', (t) => {
  const ns = withFile(emptyNamespace, '/f', 10, [1]);
  const view = new ClusterView(TIMEOUT);
  const beat = (now: number, load = server('a')) => decideRequest(stateOf(ns, view), settings, 'master.heartbeat', { ...load, leases: [] }, now, UNCHECKED);
  t.deepEqual(beat(NOW), { reply: { known: false, deleteChunks: [], extended: [] }, events: [] });
  t.deepEqual(view.liveServers(NOW).map((s) => s.id), ['a']);
  view.scheduleDeleteOn('a', formatChunkId(77));
  t.deepEqual(beat(NOW + 100), { reply: { known: true, deleteChunks: [formatChunkId(77)], extended: [] }, events: [] });
  t.deepEqual((beat(NOW + 200).reply as { deleteChunks: string[] }).deleteChunks, [], 'handed out once');
  // The load it reports is what placement and status see.
  beat(NOW + 300, server('a', 900, 100));
  t.like(view.liveServers(NOW + 300)[0], { used: 900, free: 100, lastHeartbeat: NOW + 300 });
  // After the master forgot it (expired), it must send a full report again.
  view.expiring(NOW + 300 + TIMEOUT + 1).forEach((id) => view.remove(id));
  t.false((beat(NOW + 2000).reply as { known: boolean }).known);
});

test('chunkReport: orphans and stale replicas come back to delete, higher versions are adopted, the replicas are recorded', (t) => {
  let ns = withFile(emptyNamespace, '/f', 150, [2, 1]);
  const [a, b] = [chunkOf(ns, '/f', 0), chunkOf(ns, '/f', 1)];
  const orphan = formatChunkId(500);
  const view = new ClusterView(TIMEOUT);
  const report = (id: string, chunks: { chunkId: string; version: number; length: number }[], full = true, now = NOW) =>
    decideRequest(stateOf(ns, view), settings, 'master.chunkReport', { ...server(id), full, chunks }, now, UNCHECKED);

  const first = report('s1', [
    { chunkId: a, version: 2, length: 100 },
    { chunkId: b, version: 3, length: 50 },
    { chunkId: orphan, version: 1, length: 10 },
  ]);
  t.deepEqual(first.reply, { deleteChunks: [orphan] });
  t.deepEqual(first.events, [{ type: 'ChunkVersionBumped', path: '/f', index: 1, chunkId: b, version: 3 }]);
  ns = run(ns, first.events);
  t.is(versionOf(ns, '/f', 1), 3);
  t.deepEqual(view.liveServers(NOW).map((s) => s.id), ['s1'], 'a report counts as a heartbeat');
  const located = locate(ns, view, settings, '/f', NOW);
  t.deepEqual(located.chunks.map((c) => c.replicas.map((r) => r.id)), [['s1'], ['s1']]);

  // Another server still has b at its old version: stale, to delete, and fsck says so.
  const second = report('s2', [{ chunkId: a, version: 2, length: 100 }, { chunkId: b, version: 1, length: 50 }]);
  t.deepEqual(second, { reply: { deleteChunks: [b] }, events: [] });
  t.deepEqual(fsck(ns, view, settings, '/f', NOW).files[0]!.chunks[1]!.stale, [{ id: 's2', version: 1 }]);
  // A full report replaces what the master knew of the server; a partial one adds.
  report('s1', [{ chunkId: a, version: 2, length: 100 }], true, NOW + 10);
  t.deepEqual(view.chunksOf('s1'), [a]);
  report('s1', [{ chunkId: b, version: 3, length: 50 }], false, NOW + 20);
  t.deepEqual(view.chunksOf('s1').sort(), [a, b].sort());
});

test('reportCorrupt: the replica stops being served; discard only when another live good replica exists or no file owns the chunk', (t) => {
  const ns = withFile(withFile(emptyNamespace, '/f', 10, [2]), '/g', 10, [1]);
  const [f, g] = [chunkOf(ns, '/f', 0), chunkOf(ns, '/g', 0)];
  const view = new ClusterView(TIMEOUT);
  for (const id of ['a', 'b', 'c', 'dead']) view.heartbeat(server(id), id === 'dead' ? NOW - TIMEOUT - 1 : NOW);
  view.recordReplica('a', f, 2, 10);
  view.recordReplica('b', f, 2, 10);
  view.recordReplica('c', f, 1, 10); // stale
  view.recordReplica('dead', f, 2, 10);
  const corrupt = (id: string, chunkId: string) =>
    decideRequest(stateOf(ns, view), settings, 'master.reportCorrupt', { id, chunkId, blocks: [0] }, NOW, UNCHECKED);

  t.deepEqual(corrupt('a', f), { reply: { discard: true }, events: [] }, 'b still has it');
  t.deepEqual(locate(ns, view, settings, '/f', NOW).chunks[0]!.replicas.map((r) => r.id), ['b']);
  t.deepEqual(fsck(ns, view, settings, '/f', NOW).files[0]!.chunks[0]!.corrupt, ['a']);
  t.deepEqual(corrupt('b', f), { reply: { discard: false }, events: [] }, 'the last copy (a stale one and a dead one do not count) is kept');
  t.deepEqual(fsck(ns, view, settings, '/f', NOW).files[0]!.chunks[0]!.corrupt.sort(), ['a', 'b']);
  // A chunk with a single replica, and a chunk no file owns.
  view.recordReplica('a', g, 1, 10);
  t.false((corrupt('a', g).reply as { discard: boolean }).discard);
  t.true((corrupt('a', formatChunkId(999)).reply as { discard: boolean }).discard);
});

test('locate, list and fsck answer as the query functions do, from the normalized path, and journal nothing', (t) => {
  const ns = withFile(withFile(emptyNamespace, '/d/f', 150, [1, 1]), '/e/g', 10, [1]);
  const view = new ClusterView(TIMEOUT);
  view.heartbeat(server('a'), NOW);
  view.recordReplica('a', chunkOf(ns, '/d/f', 0), 1, 100);
  const state = stateOf(ns, view);
  const located = decideRequest(state, settings, 'master.locate', { path: '/d/f' }, NOW, UNCHECKED);
  t.deepEqual(located, { reply: locate(ns, view, settings, '/d/f', NOW), events: [] });
  t.like(located.reply, { type: 'file', size: 150 });
  t.deepEqual(decideRequest(state, settings, 'master.list', { path: '/d/' }, NOW, UNCHECKED), { reply: list(ns, '/d'), events: [] });
  t.deepEqual(decideRequest(state, settings, 'master.fsck', { path: '/' }, NOW, UNCHECKED), { reply: fsck(ns, view, settings, '/', NOW), events: [] });
  t.like((decideRequest(state, settings, 'master.fsck', { path: '/d' }, NOW, UNCHECKED).reply as ReturnType<typeof fsck>).summary, {
    files: 1,
    chunks: 2,
    underReplicated: 1,
    missing: 1,
  });
  t.throws(() => decideRequest(state, settings, 'master.locate', { path: '/nope' }, NOW, UNCHECKED), { instanceOf: OfsError, code: 'ENOENT' });
  t.throws(() => decideRequest(state, settings, 'master.list', { path: '/d/../etc' }, NOW, UNCHECKED), { code: 'EINVAL' });
});

test('a type the master does not decide here is refused with EBADMSG', (t) => {
  const state = stateOf(base());
  for (const type of ['master.status', 'master.checkpoint', 'master.lease', 'chunk.push', 'no.such'] as MessageType[]) {
    t.throws(() => decideRequest(state, settings, type, {}, NOW, UNCHECKED), { instanceOf: OfsError, code: 'EBADMSG' }, type);
  }
});

test('namespace requests and heartbeats never ask for the chunk owners (a walk of every file); chunk reports do', (t) => {
  const ns = withFile(base(), '/d/g', 150, [1, 1]);
  let walks = 0;
  const counted = (): MasterView => ({ ns, view: new ClusterView(TIMEOUT), owners: () => (walks++, ownedChunks(ns)) });
  const cheap: [MessageType, object][] = [
    ['master.mkdir', { path: '/e', parents: false }],
    ['master.create', { path: '/d/h', overwrite: false }],
    ['master.extend', { path: '/d/g', size: 160 }],
    ['master.rename', { from: '/d/g', to: '/d/k' }],
    ['master.delete', { path: '/d/g', recursive: false }],
    ['master.list', { path: '/d' }],
    ['master.locate', { path: '/d/g' }],
    ['master.heartbeat', { ...server('a'), leases: [] }],
  ];
  for (const [type, body] of cheap) decideRequest(counted(), settings, type, body, NOW, UNCHECKED);
  t.is(walks, 0);
  decideRequest(counted(), settings, 'master.chunkReport', { ...server('a'), full: true, chunks: [] }, NOW, UNCHECKED);
  t.true(walks > 0);
});
