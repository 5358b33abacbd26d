import { ChunkTable } from '../../src/core/chunk-table.js';
import test from 'ava';
import { ClusterView } from '../../src/core/cluster-view.js';
import { CHUNK, chunkOf, ids, NOW, run, server, settings, TIMEOUT, viewOf, withFile } from '../helpers/master-state.js';
import { decideChunksUpTo, decideDelete, decideExtend, decideMkdir } from '../../src/core/commands.js';
import { OfsError } from '../../src/core/errors.js';
import type { UnsequencedEvent } from '../../src/core/events.js';
import { chunkLength, clusterStatus, countFiles, fsck, list, locate, countUnderReplicated, LOCATE_CHUNKS_MAX } from '../../src/core/master-queries.js';
import { encodeEnvelope, MAX_HEADER_BYTES } from '../../src/transport/envelope.js';
import { formatFsck } from '../../src/cli/format.js';
import { emptyNamespace, lookup, ownedChunks, type FileNode } from '../../src/core/namespace.js';
import { SUPERGROUP, SUPERUSER, UNCHECKED } from '../../src/core/permissions.js';

/** What the superuser (UNCHECKED) makes: the default modes. */
const SUPERUSERS_FILE = { owner: SUPERUSER, group: SUPERGROUP, mode: 0o644 };
const SUPERUSERS_DIR = { ...SUPERUSERS_FILE, mode: 0o755 };

test('chunkLength: full chunks, a short last chunk, nothing past the end', (t) => {
  const file = (size: number): FileNode => ({ kind: 'file', size, mtime: 0, chunks: [], owner: 'u', group: 'g', mode: 0o644 });
  t.deepEqual([0, 1, 2, 3].map((i) => chunkLength(file(250), i, CHUNK)), [100, 100, 50, 0]);
  t.deepEqual([0, 1, 2].map((i) => chunkLength(file(200), i, CHUNK)), [100, 100, 0]);
  t.is(chunkLength(file(0), 0, CHUNK), 0);
  t.is(chunkLength(file(1), 0, CHUNK), 1);
});

test('locate: each chunk with only its live replicas at the current version', (t) => {
  let ns = withFile(emptyNamespace, '/d/f', 250, [1, 3, 0], 7);
  const [c0, c1, c2] = [0, 1, 2].map((i) => chunkOf(ns, '/d/f', i));
  const view = viewOf(['a', 'b', 'c'], ['dead']);
  view.recordReplica('a', c0!, 1, 100);
  view.recordReplica('b', c0!, 1, 100);
  view.recordReplica('c', c0!, 0, 0); // stale: missed the first lease
  view.recordReplica('dead', c0!, 1, 100); // stopped beating
  view.recordReplica('c', c1!, 3, 100);
  view.recordReplica('a', c1!, 2, 100); // stale
  const located = locate(ns, view, settings, '/d/f', NOW);
  t.like(located, { path: '/d/f', type: 'file', size: 250, mtime: 7, chunkSize: CHUNK });
  t.deepEqual(
    located.chunks.map((c) => ({ index: c.index, chunkId: c.chunkId, version: c.version, length: c.length, primary: c.primary })),
    [
      { index: 0, chunkId: c0, version: 1, length: 100, primary: null },
      { index: 1, chunkId: c1, version: 3, length: 100, primary: null },
      { index: 2, chunkId: c2, version: 0, length: 50, primary: null },
    ],
  );
  t.deepEqual(ids(located.chunks[0]!.replicas), ['a', 'b']);
  t.deepEqual(located.chunks[1]!.replicas, [{ id: 'c', address: 'tcp://c.ofs:7000', version: 3 }]);
  t.deepEqual(located.chunks[2]!.replicas, [], 'a chunk never written is on no server');
  // Locating a directory: no chunks; a missing path: ENOENT.
  ns = run(ns, decideMkdir(ns, '/e', false, 9, UNCHECKED));
  t.deepEqual(locate(ns, view, settings, '/e', NOW), { path: '/e', type: 'dir', size: 0, mtime: 9, ...SUPERUSERS_DIR, chunkSize: CHUNK, chunkCount: 0, firstChunkId: null, chunks: [] });
  t.throws(() => locate(ns, view, settings, '/d/nope', NOW), { instanceOf: OfsError, code: 'ENOENT' });
});

test('locate: a window of at most LOCATE_CHUNKS_MAX chunks from `from`, with the whole file\'s chunk count and first chunk', (t) => {
  const chunks = 2 * LOCATE_CHUNKS_MAX + 88;
  const ns = withFile(emptyNamespace, '/big', chunks * CHUNK - 30, Array(chunks).fill(1));
  const view = viewOf(['a']);
  const indices = (from?: number) => locate(ns, view, settings, '/big', NOW, true, from).chunks.map((c) => c.index);
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  t.deepEqual(indices(), range(0, LOCATE_CHUNKS_MAX));
  t.deepEqual(indices(LOCATE_CHUNKS_MAX + 5), range(LOCATE_CHUNKS_MAX + 5, 2 * LOCATE_CHUNKS_MAX + 5));
  t.deepEqual(indices(chunks - 3), range(chunks - 3, chunks));
  t.deepEqual(indices(chunks), []);
  const tail = locate(ns, view, settings, '/big', NOW, true, chunks - 1);
  t.like(tail, { chunkCount: chunks, firstChunkId: chunkOf(ns, '/big', 0), size: chunks * CHUNK - 30 });
  t.like(tail.chunks[0], { index: chunks - 1, chunkId: chunkOf(ns, '/big', chunks - 1), length: CHUNK - 30 });
  // A stat carries the count and first chunk, never the chunks.
  t.like(locate(ns, view, settings, '/big', NOW, false), { chunkCount: chunks, firstChunkId: chunkOf(ns, '/big', 0), chunks: [] });
  t.like(locate(withFile(emptyNamespace, '/empty', 0), view, settings, '/empty', NOW), { chunkCount: 0, firstChunkId: null, chunks: [] });
});

test('list: a page of long names stops short of LIST_PAGE_MAX entries to stay well inside one message, and pages cover them all', (t) => {
  let ns = run(emptyNamespace, decideMkdir(emptyNamespace, '/d', false, 1, UNCHECKED));
  const names = Array.from({ length: 4000 }, (_, i) => `${String(i).padStart(5, '0')}-${'n'.repeat(240)}`);
  for (const name of names) ns = withFile(ns, `/d/${name}`, 0);
  const seen: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = list(ns, '/d', after);
    t.true(Buffer.byteLength(JSON.stringify(page)) < MAX_HEADER_BYTES - 4096, `a page of ${page.entries.length} entries`);
    seen.push(...page.entries.map((e) => e.name));
    if (!page.more) break;
    after = page.entries.at(-1)!.name;
  }
  t.deepEqual(seen, names);
  t.true(list(ns, '/d').entries.length < names.length);
});

test('list: a directory in name order with types, sizes and times; a file as its own entry', (t) => {
  let ns = emptyNamespace;
  ns = withFile(ns, '/d/b', 30, [], 3);
  ns = run(ns, decideMkdir(ns, '/d/a9', false, 4, UNCHECKED));
  ns = withFile(ns, '/d/a10', 120, [], 5);
  ns = withFile(ns, '/d/C', 0, [], 6);
  ns = withFile(ns, '/d/a9/inner', 10, [], 7);
  t.deepEqual(list(ns, '/d').entries, [
    { name: 'C', type: 'file', size: 0, mtime: 6, ...SUPERUSERS_FILE },
    { name: 'a10', type: 'file', size: 120, mtime: 5, ...SUPERUSERS_FILE },
    { name: 'a9', type: 'dir', size: 0, mtime: 4, ...SUPERUSERS_DIR },
    { name: 'b', type: 'file', size: 30, mtime: 3, ...SUPERUSERS_FILE },
  ]);
  t.deepEqual(list(ns, '/d/a10').entries, [{ name: 'a10', type: 'file', size: 120, mtime: 5, ...SUPERUSERS_FILE }]);
  t.deepEqual(list(ns, '/').entries.map((e) => e.name), ['d']);
  t.deepEqual(list(emptyNamespace, '/').entries, []);
  t.throws(() => list(ns, '/d/zz'), { instanceOf: OfsError, code: 'ENOENT' });
  t.throws(() => list(ns, '/d/b/under-a-file'), { instanceOf: OfsError, code: 'ENOENT' });
});

test('countFiles: files at any depth below the root, directories not counted', (t) => {
  let ns = run(emptyNamespace, decideMkdir(emptyNamespace, '/empty/deeper', true, 1, UNCHECKED));
  for (const path of ['/a/1', '/a/2', '/a/b/3', '/a/b/c/4', '/x']) ns = withFile(ns, path, 0);
  t.is(countFiles(ns), 5);
  t.is(countFiles(ns, '/'), 5);
  t.is(countFiles(ns, '/a'), 4);
  t.is(countFiles(ns, '/a/b'), 2);
  t.is(countFiles(ns, '/a/b/c/4'), 1, 'a file counts itself');
  t.is(countFiles(ns, '/empty'), 0);
  t.is(countFiles(ns, '/nope'), 0);
  t.is(countFiles(emptyNamespace), 0);
});

/**
 * /d/healthy   one chunk on a, b, c (+ a corrupt replica on e)
 * /d/hole      chunk 0 never written, chunk 1 on a, b, c
 * /d/missing   one chunk whose only holder stopped beating
 * /d/under     one chunk at v2 on a, and on b still at v1 (stale)
 * /d/empty     no chunks
 * /other/f     outside /d, on a and b (one short)
 */
function fsckCluster() {
  let ns = emptyNamespace;
  ns = withFile(ns, '/d/under', 40, [2]);
  ns = withFile(ns, '/d/healthy', 100, [1]);
  ns = withFile(ns, '/d/missing', 10, [1]);
  ns = withFile(ns, '/d/hole', 150, [0, 1]);
  ns = withFile(ns, '/d/empty', 0);
  ns = withFile(ns, '/other/f', 10, [1]);
  const view = viewOf(['e', 'c', 'a', 'b'], ['dead']);
  const chunk = (path: string, index = 0) => chunkOf(ns, path, index);
  for (const id of ['a', 'b', 'c', 'e']) view.recordReplica(id, chunk('/d/healthy'), 1, 100);
  view.markCorrupt(chunk('/d/healthy'), 'e');
  for (const id of ['a', 'b', 'c']) view.recordReplica(id, chunk('/d/hole', 1), 1, 50);
  view.recordReplica('dead', chunk('/d/missing'), 1, 10);
  view.recordReplica('a', chunk('/d/under'), 2, 40);
  view.recordReplica('b', chunk('/d/under'), 1, 40);
  view.recordReplica('a', chunk('/other/f'), 1, 10);
  view.recordReplica('b', chunk('/other/f'), 1, 10);
  return { ns, view, chunk };
}

test('fsck: per chunk the live, stale and corrupt replicas and a status; a summary over the subtree', (t) => {
  const { ns, view, chunk } = fsckCluster();
  const report = fsck(ns, view, settings, '/d', NOW);
  t.is(report.replication, 3);
  t.deepEqual(
    report.files.map((f) => ({ path: f.path, size: f.size, chunks: f.chunks.map((c) => ({ ...c, live: [...c.live].sort() })) })),
    [
      {
        path: '/d/healthy',
        size: 100,
        chunks: [{ index: 0, chunkId: chunk('/d/healthy'), version: 1, live: ['a', 'b', 'c'], stale: [], corrupt: ['e'], status: 'healthy' }],
      },
      {
        path: '/d/hole',
        size: 150,
        chunks: [
          { index: 0, chunkId: chunk('/d/hole', 0), version: 0, live: [], stale: [], corrupt: [], status: 'hole' },
          { index: 1, chunkId: chunk('/d/hole', 1), version: 1, live: ['a', 'b', 'c'], stale: [], corrupt: [], status: 'healthy' },
        ],
      },
      {
        path: '/d/missing',
        size: 10,
        chunks: [{ index: 0, chunkId: chunk('/d/missing'), version: 1, live: [], stale: [], corrupt: [], status: 'missing' }],
      },
      {
        path: '/d/under',
        size: 40,
        chunks: [{ index: 0, chunkId: chunk('/d/under'), version: 2, live: ['a'], stale: [{ id: 'b', version: 1 }], corrupt: [], status: 'under-replicated' }],
      },
    ],
    'files in path order, chunks in index order; nothing from outside /d',
  );
  t.deepEqual(report.summary, { files: 5, chunks: 5, healthy: 2, underReplicated: 1, missing: 1, stale: 1, corrupt: 1 });
});

test('fsck: a single file, the whole tree, and a missing path', (t) => {
  const { ns, view } = fsckCluster();
  const one = fsck(ns, view, settings, '/d/under', NOW);
  t.deepEqual(one.files.map((f) => f.path), ['/d/under']);
  t.like(one.summary, { files: 1, chunks: 1, underReplicated: 1, stale: 1 });
  const all = fsck(ns, view, settings, '/', NOW);
  t.like(all.files.at(-1)!.chunks[0], { live: ['a', 'b'], status: 'under-replicated' });
  t.deepEqual(all.files.map((f) => f.path), ['/d/healthy', '/d/hole', '/d/missing', '/d/under', '/other/f']);
  t.deepEqual(all.summary, { files: 6, chunks: 6, healthy: 2, underReplicated: 2, missing: 1, stale: 1, corrupt: 1 });
  // Later, the holders of /d/healthy stop beating too: fsck sees it at once.
  const later = fsck(ns, view, settings, '/d/healthy', NOW + TIMEOUT + 1);
  t.like(later.files[0]!.chunks[0], { live: [], status: 'missing' });
  t.throws(() => fsck(ns, view, settings, '/d/nope', NOW), { instanceOf: OfsError, code: 'ENOENT' });
});

test('fsck under a path of more files than one reply holds: those that need attention are listed first, the rest counted, the summary whole', (t) => {
  let ns = emptyNamespace;
  const names = Array.from({ length: 6_000 }, (_, i) => `/big/${String(i).padStart(5, '0')}-${'n'.repeat(60)}`);
  for (const name of names) ns = withFile(ns, name, 50, [1]);
  const view = viewOf(['a', 'b', 'c']);
  for (const name of names) for (const id of ['a', 'b', 'c']) view.recordReplica(id, chunkOf(ns, name, 0)!, 1, 50);
  const troubled = [names[10]!, names[5_990]!];
  for (const name of troubled) view.forgetReplica(chunkOf(ns, name, 0)!, 'c');
  const report = fsck(ns, view, settings, '/big', NOW);
  t.true(encodeEnvelope({ type: 'reply', id: 'x', epoch: 1, from: 'm', body: report })[0]!.length < MAX_HEADER_BYTES);
  t.true(report.files.length > 1_000 && report.files.length < names.length, `${report.files.length} listed`);
  t.is(report.unlisted, names.length - report.files.length);
  t.true(troubled.every((name) => report.files.some((f) => f.path === name)), 'both troubled files, the second far past where the listing stops in path order');
  t.deepEqual(report.files.map((f) => f.path), [...report.files.map((f) => f.path)].sort(), 'in path order');
  t.like(report.summary, { files: names.length, chunks: names.length, healthy: names.length - 2, underReplicated: 2 });
  t.regex(formatFsck(report), new RegExp(`\\(${report.unlisted} files not listed`));
});

test('clusterStatus: live chunkservers by id with heartbeat age, files, chunks; countUnderReplicated: written chunks short of replicas', (t) => {
  const cluster = fsckCluster();
  const { view } = cluster;
  const ns = withFile(cluster.ns, '/d/another-empty', 0);
  view.heartbeat({ ...server('b'), used: 300, free: 700, chunkCount: 3 }, NOW - 250);
  const status = clusterStatus(ChunkTable.of(ns), view, settings, NOW);
  t.deepEqual(status.chunkservers, [
    { ...server('a'), lastHeartbeatMs: 0 },
    { ...server('b'), used: 300, free: 700, chunkCount: 3, lastHeartbeatMs: 250 },
    { ...server('c'), lastHeartbeatMs: 0 },
    { ...server('e'), lastHeartbeatMs: 0 },
  ]);
  t.like(status, { chunkSize: CHUNK, replication: 3, files: 7, chunks: 6 });
  const owners = ChunkTable.of(ns).chunks;
  // /d/under, /d/missing and /other/f; the unwritten chunk of /d/hole is not short of anything.
  t.is(countUnderReplicated(owners, view, settings, NOW), 3);
  // Once b stops beating too, every chunk it held is short.
  const later = clusterStatus(ChunkTable.of(ns), view, settings, NOW + TIMEOUT - 200);
  t.deepEqual(later.chunkservers.map((s) => s.id), ['a', 'c', 'e']);
  t.is(countUnderReplicated(owners, view, settings, NOW + TIMEOUT - 200), 5, 'now /d/healthy and chunk 1 of /d/hole as well');
  t.deepEqual(clusterStatus(ChunkTable.of(emptyNamespace), new ClusterView(TIMEOUT), settings, NOW), {
    chunkservers: [],
    chunkSize: CHUNK,
    replication: 3,
    files: 0,
    chunks: 0,
  });
});

test('queries see deletions: a deleted file leaves its directory listing and locate', (t) => {
  let ns = withFile(emptyNamespace, '/d/f', 10, [1]);
  ns = withFile(ns, '/d/g', 10, [1]);
  ns = run(ns, decideDelete(ns, '/d/f', false, 50, UNCHECKED));
  t.deepEqual(list(ns, '/d').entries.map((e) => e.name), ['g']);
  t.throws(() => locate(ns, new ClusterView(TIMEOUT), settings, '/d/f', NOW), { code: 'ENOENT' });
});

/**
 * 100,000 files in 10,000 directories five levels deep (/a0/b0/c0/d0/f0 …),
 * made by applying real events; then one directory is listed and one file located.
 */
test('a namespace of 100,000 files: list of one directory and locate of one file', (t) => {
  const started = performance.now();
  const W = 10;
  const events: UnsequencedEvent[] = [];
  const fill = (dir: string, level: number): void => {
    // Files go in in reverse name order, so the listing has to sort them.
    for (let i = W - 1; i >= 0; i--) {
      if (level === 4) {
        events.push({ type: 'FileCreated', path: `${dir}/f${i}`, mtime: 1000 + i });
      } else {
        const sub = `${dir}/${'abcd'[level]}${i}`;
        events.push({ type: 'DirectoryCreated', path: sub, mtime: 1 });
        fill(sub, level + 1);
      }
    }
  };
  fill('', 0);
  let ns = run(emptyNamespace, events);
  t.is(countFiles(ns), 100_000);

  // One file written: three chunks on servers; its neighbours with a chunk each elsewhere.
  const dir = '/a7/b3/c5/d1';
  const target = `${dir}/f4`;
  ns = run(ns, decideChunksUpTo(ns, target, 2, 0));
  ns = run(ns, decideExtend(ns, target, 270, CHUNK, 2000));
  for (const sibling of [`${dir}/f3`, `${dir}/f5`, '/a0/b0/c0/d0/f4']) {
    ns = run(ns, decideChunksUpTo(ns, sibling, 0, 0));
    ns = run(ns, decideExtend(ns, sibling, 5, CHUNK, 2000));
  }
  const chunks = (lookup(ns, target) as FileNode).chunks.map((c) => c.id);
  const view = viewOf(['s1', 's2', 's3', 's4']);
  chunks.forEach((id, i) => {
    ns = run(ns, [{ type: 'ChunkVersionBumped', path: target, index: i, chunkId: id, version: 1 }]);
    view.recordReplica(`s${i + 1}`, id, 1, 100);
    view.recordReplica('s4', id, 1, 100);
  });
  const f3 = chunkOf(ns, `${dir}/f3`, 0);
  ns = run(ns, [{ type: 'ChunkVersionBumped', path: `${dir}/f3`, index: 0, chunkId: f3, version: 1 }]);
  view.recordReplica('s2', f3, 1, 5);

  const listed = list(ns, dir).entries;
  t.deepEqual(listed.map((e) => e.name), ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9']);
  t.deepEqual(listed[4], { name: 'f4', type: 'file', size: 270, mtime: 2000, ...SUPERUSERS_FILE });
  t.deepEqual(listed[5], { name: 'f5', type: 'file', size: 5, mtime: 2000, ...SUPERUSERS_FILE });
  t.deepEqual(listed[6], { name: 'f6', type: 'file', size: 0, mtime: 1006, ...SUPERUSERS_FILE });
  t.deepEqual(list(ns, '/a7/b3').entries.map((e) => `${e.name}:${e.type}`), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `c${i}:dir`));

  const located = locate(ns, view, settings, target, NOW);
  t.like(located, { path: target, type: 'file', size: 270, mtime: 2000 });
  t.deepEqual(located.chunks.map((c) => [c.chunkId, c.version, c.length]), chunks.map((id, i) => [id, 1, i < 2 ? 100 : 70]));
  t.deepEqual(located.chunks.map((c) => ids(c.replicas)), [['s1', 's4'], ['s2', 's4'], ['s3', 's4']]);
  t.deepEqual(locate(ns, view, settings, `${dir}/f3`, NOW).chunks.map((c) => [c.chunkId, ids(c.replicas)]), [[f3, ['s2']]], 'f3 is a different file');
  t.throws(() => locate(ns, view, settings, `${dir}/f10`, NOW), { code: 'ENOENT' });
  t.is(ownedChunks(ns).size, 6);
  const ms = performance.now() - started;
  t.log(`built and queried in ${Math.round(ms)} ms`);
  t.true(ms < 15_000, `took ${Math.round(ms)} ms`);
});

test('the cluster view keeps only a chunkserver load from its messages: status carries no leases or chunk lists', (t) => {
  const view = new ClusterView(3_000);
  const load = { id: 'cs-1', address: 'tcp://127.0.0.1:1', used: 10, free: 90, capacity: 100, chunkCount: 1 };
  view.heartbeat({ ...load, leases: [{ chunkId: '0000000000000001', version: 1 }] } as never, 1_000);
  view.report({ ...load, full: true, chunks: [{ chunkId: '0000000000000001', version: 1, length: 5 }] } as never, [{ chunkId: '0000000000000001', version: 1, length: 5 }], true, 1_000);
  const status = clusterStatus(ChunkTable.of(emptyNamespace), view, { chunkSize: 1024, replication: 3 }, 1_500);
  t.deepEqual(status.chunkservers, [{ ...load, lastHeartbeatMs: 500 }]);
});
