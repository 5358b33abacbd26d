import test from 'ava';
import { chunkNumbersFor, epochAbove } from '../../src/core/chunk-id.js';
import { decideChunksUpTo, decideCollectGarbage, decideCreate, decideDelete, decideExtend, decideMkdir, decideRename, decideUndelete, TRASH } from '../../src/core/commands.js';
import type { MasterEvent, UnsequencedEvent } from '../../src/core/events.js';
import { entryNames } from '../../src/core/dir-entries.js';
import { apply, applyAll, emptyNamespace, lookup, ownedChunks, type DirNode, type Namespace } from '../../src/core/namespace.js';
import { UNCHECKED } from '../../src/core/permissions.js';

/** Sequences and applies the events a command decided, as the master actor does. */
function run(ns: Namespace, events: UnsequencedEvent[]): Namespace {
  return applyAll(ns, events.map((e, i) => ({ ...e, seq: ns.seq + 1 + i }) as MasterEvent));
}

const CHUNK = 100;

function withFile(ns: Namespace, path: string, size: number): Namespace {
  ns = run(ns, decideCreate(ns, path, true, 1, UNCHECKED));
  if (size > 0) ns = run(ns, decideChunksUpTo(ns, path, Math.ceil(size / CHUNK) - 1, 0));
  return run(ns, decideExtend(ns, path, size, CHUNK, 2));
}

test('mkdir -p makes each missing ancestor once; mkdir needs a parent', (t) => {
  const events = decideMkdir(emptyNamespace, '/a/b/c', true, 5, UNCHECKED);
  t.deepEqual(events.map((e) => (e as { path: string }).path), ['/a', '/a/b', '/a/b/c']);
  const ns = run(emptyNamespace, events);
  t.is(lookup(ns, '/a/b/c')?.kind, 'dir');
  t.deepEqual(decideMkdir(ns, '/a/b', true, 6, UNCHECKED), []);
  t.throws(() => decideMkdir(ns, '/a/b', false, 6, UNCHECKED), { message: '/a/b already exists' });
  t.throws(() => decideMkdir(ns, '/x/y', false, 6, UNCHECKED), { message: /parent directory \/x does not exist/ });
});

test('create makes parents, replaces a file only when asked, never a directory', (t) => {
  let ns = withFile(emptyNamespace, '/d/f', 250);
  t.like(lookup(ns, '/d/f'), { kind: 'file', size: 250 });
  t.is((lookup(ns, '/d/f') as { chunks: unknown[] }).chunks.length, 3);
  t.throws(() => decideCreate(ns, '/d/f', false, 3, UNCHECKED), { message: '/d/f already exists' });
  t.throws(() => decideCreate(ns, '/d', true, 3, UNCHECKED), { message: '/d is a directory' });
  t.throws(() => decideCreate(ns, '/d/f/g', true, 3, UNCHECKED), { message: '/d/f is a file, not a directory' });
  ns = run(ns, decideCreate(ns, '/d/f', true, 3, UNCHECKED));
  t.like(lookup(ns, '/d/f'), { kind: 'file', size: 0 });
});

test('chunks are allocated up to an index with ids that never repeat; sizes only grow', (t) => {
  let ns = run(emptyNamespace, decideCreate(emptyNamespace, '/f', false, 1, UNCHECKED));
  t.deepEqual(decideChunksUpTo(ns, '/f', 2, 0).map((e) => (e as { chunkId: string }).chunkId), ['0000000000000001', '0000000000000002', '0000000000000003']);
  ns = run(ns, decideChunksUpTo(ns, '/f', 1, 0));
  t.deepEqual(decideChunksUpTo(ns, '/f', 1, 0), [], 'existing chunks are not allocated again');
  t.throws(() => decideExtend(ns, '/f', 2 * CHUNK + 1, CHUNK, 2), { message: /beyond its 2 allocated chunks/ });
  ns = run(ns, decideExtend(ns, '/f', 150, CHUNK, 2));
  t.deepEqual(decideExtend(ns, '/f', 100, CHUNK, 3), [], 'a smaller size changes nothing');
  t.like(lookup(ns, '/f'), { size: 150 });
  t.throws(() => decideChunksUpTo(ns, '/nope', 0, 0), { message: '/nope does not exist' });
  // Replacing the file keeps the counter: old chunk ids are garbage, never reused.
  ns = run(ns, decideCreate(ns, '/f', true, 3, UNCHECKED));
  ns = run(ns, decideChunksUpTo(ns, '/f', 0, 0));
  t.deepEqual([...ownedChunks(ns).keys()], ['0000000000000003']);
});

test('each master epoch hands out chunk ids from its own range: one a crashed master told a chunkserver of, unjournaled, is never handed out again', (t) => {
  let ns = run(emptyNamespace, decideCreate(emptyNamespace, '/f', false, 1, UNCHECKED));
  ns = run(ns, decideChunksUpTo(ns, '/f', 1, 0)); // ids 1 and 2, from before ids had epochs
  const ids = (events: ReturnType<typeof decideChunksUpTo>) => events.map((e) => (e as { chunkId: string }).chunkId);
  // Epoch 3 decides chunk 2 and tells its replicas, then dies before the journal has it.
  const heard = ids(decideChunksUpTo(ns, '/f', 2, 3));
  t.deepEqual(heard, [(3 * 2 ** 32).toString(16).padStart(16, '0')]);
  // Its successor, from the same journal, takes the next epoch's range.
  const next = ids(decideChunksUpTo(ns, '/f', 2, 4));
  t.deepEqual(next, [(4 * 2 ** 32).toString(16).padStart(16, '0')]);
  t.notDeepEqual(next, heard);
  // Within an epoch the ids follow on from the journal's highest.
  ns = run(ns, decideChunksUpTo(ns, '/f', 2, 4));
  t.deepEqual(ids(decideChunksUpTo(ns, '/f', 3, 4)), [(4 * 2 ** 32 + 1).toString(16).padStart(16, '0')]);
  // An epoch that used up its range allocates no more (a restart gives the next epoch a fresh one).
  const full = { ...ns, nextChunkId: 2 * 2 ** 32 - 1 };
  t.deepEqual(ids(decideChunksUpTo(full, '/f', 3, 1)), ['00000001ffffffff']);
  t.throws(() => decideChunksUpTo(full, '/f', 4, 1), { code: 'EUNAVAILABLE', message: /master epoch 1 has handed out all of its 4294967296 chunk ids/ });
});

test('a master taking over needs an epoch above every chunk id its journal holds (ZooKeeper rolled back would give an old one)', (t) => {
  t.is(epochAbove(1), 1, 'a new namespace: any epoch');
  t.is(epochAbove(5), 1, 'ids from before epochs');
  t.is(epochAbove(3 * 2 ** 32), 3, 'ids up to the end of epoch 2');
  t.is(epochAbove(3 * 2 ** 32 + 1), 4, 'an id of epoch 3 in the journal');
  t.is(chunkNumbersFor(epochAbove(3 * 2 ** 32 + 7), 3 * 2 ** 32 + 7, 1), 4 * 2 ** 32);
});

test('delete moves to the trash; undelete brings back the latest; GC removes for good after the interval', (t) => {
  let ns = withFile(emptyNamespace, '/d/e/f', 10);
  t.throws(() => decideDelete(ns, '/d', false, 5, UNCHECKED), { message: /non-empty directory/ });
  t.throws(() => decideDelete(ns, '/nope', false, 5, UNCHECKED), { message: '/nope does not exist' });
  t.throws(() => decideDelete(ns, '/', true, 5, UNCHECKED), { message: 'refusing to delete /' });
  ns = run(ns, decideDelete(ns, '/d', true, 1000, UNCHECKED));
  t.is(lookup(ns, '/d'), undefined);
  t.is(ownedChunks(ns).size, 1, 'the chunks stay while the file is in the trash');
  // A second deletion of the same path later: undelete brings back the newer one.
  ns = withFile(ns, '/d/e/f', 20);
  ns = run(ns, decideDelete(ns, '/d/e/f', false, 2000, UNCHECKED));
  t.throws(() => decideUndelete(ns, '/zzz', 2500, UNCHECKED), { message: /not in the trash/ });
  ns = run(ns, decideUndelete(ns, '/d/e/f', 2500, UNCHECKED));
  t.like(lookup(ns, '/d/e/f'), { kind: 'file', size: 20 });
  t.throws(() => decideUndelete(ns, '/d/e/f', 2600, UNCHECKED), { message: /exists again/ });
  // GC: only trash older than the interval goes, and with it the chunks.
  t.deepEqual(decideCollectGarbage(ns, 1500, 1000), []);
  ns = run(ns, decideCollectGarbage(ns, 5000, 1000));
  t.deepEqual([...entryNames((lookup(ns, TRASH) as DirNode).children)], []);
  t.deepEqual([...ownedChunks(ns).values()].map((o) => o.path), ['/d/e/f']);
  // Deleting inside the trash is for good.
  ns = run(ns, decideDelete(ns, '/d', true, 6000, UNCHECKED));
  const stamp = [...entryNames((lookup(ns, TRASH) as DirNode).children)][0]!;
  ns = run(ns, decideDelete(ns, `${TRASH}/${stamp}`, true, 6001, UNCHECKED));
  t.is(ownedChunks(ns).size, 0);
});

test('rename moves subtrees; refuses existing targets, missing parents and moves into itself', (t) => {
  let ns = withFile(emptyNamespace, '/a/f', 10);
  ns = run(ns, decideMkdir(ns, '/b', false, 1, UNCHECKED));
  t.throws(() => decideRename(ns, '/a', '/a/x', 9, UNCHECKED), { message: /into itself/ });
  t.throws(() => decideRename(ns, '/a', '/b', 9, UNCHECKED), { message: '/b already exists' });
  t.throws(() => decideRename(ns, '/a', '/c/d', 9, UNCHECKED), { message: /parent directory \/c does not exist/ });
  t.throws(() => decideRename(ns, '/zz', '/c', 9, UNCHECKED), { message: '/zz does not exist' });
  ns = run(ns, decideRename(ns, '/a', '/b/a2', 9, UNCHECKED));
  t.is(lookup(ns, '/a'), undefined);
  t.like(lookup(ns, '/b/a2/f'), { kind: 'file', size: 10 });
});

test('apply is pure: the old state is untouched, and an out-of-sequence event is refused', (t) => {
  const before = withFile(emptyNamespace, '/f', 10);
  const snapshot = JSON.stringify(before);
  run(before, decideDelete(before, '/f', false, 9, UNCHECKED));
  t.is(JSON.stringify(before), snapshot);
  t.throws(() => applyAll(before, [{ type: 'NodeDeleted', path: '/f', seq: before.seq + 2 }]), { message: /seq/ });
});

test('replaying the same events gives the same state', (t) => {
  const events: MasterEvent[] = [];
  let ns = emptyNamespace;
  const record = (decided: UnsequencedEvent[]) => {
    const sequenced = decided.map((e, i) => ({ ...e, seq: ns.seq + 1 + i }) as MasterEvent);
    events.push(...sequenced);
    ns = applyAll(ns, sequenced);
  };
  record(decideMkdir(ns, '/x/y', true, 1, UNCHECKED));
  record(decideCreate(ns, '/x/y/f', false, 2, UNCHECKED));
  record(decideChunksUpTo(ns, '/x/y/f', 0, 0));
  record(decideExtend(ns, '/x/y/f', 42, CHUNK, 3));
  record(decideRename(ns, '/x/y', '/z', 4, UNCHECKED));
  record(decideDelete(ns, '/x', true, 5, UNCHECKED));
  t.deepEqual(applyAll(emptyNamespace, JSON.parse(JSON.stringify(events))), ns);
});

test('a run of chunk allocations of one file applies as the same events one by one would, and one out of place is refused', (t) => {
  let ns = emptyNamespace;
  const seq = (events: UnsequencedEvent[], at = ns.seq): MasterEvent[] => events.map((e, i) => ({ ...e, seq: at + 1 + i }) as MasterEvent);
  for (const path of ['/a', '/b']) ns = applyAll(ns, seq(decideCreate(ns, path, false, 1, UNCHECKED)));
  // A's chunks, then B's, then A's again, and another event between: three runs and a lone event.
  const aFirst = decideChunksUpTo(ns, '/a', 499, 0);
  const afterA = applyAll(ns, seq(aFirst));
  const events = seq([...aFirst, ...decideChunksUpTo(afterA, '/b', 2, 0), ...decideExtend(afterA, '/a', 10, 64, 5)]);
  const oneByOne = events.reduce(apply, ns);
  t.deepEqual(applyAll(ns, events), oneByOne);
  t.is((lookup(oneByOne, '/a') as { chunks: unknown[] }).chunks.length, 500);
  // Out of place: a chunk index skipped, or a seq.
  const skipped = events.map((e, i) => (i === 7 ? { ...e, index: 8 } : e)) as MasterEvent[];
  t.throws(() => applyAll(ns, skipped), { code: 'EINTERNAL', message: /chunk 8 of \/a allocated, but it has 7/ });
  const gap = events.map((e, i) => (i >= 3 ? { ...e, seq: e.seq + 1 } : e));
  t.throws(() => applyAll(ns, gap), { code: 'EINTERNAL', message: /seq \d+ applied after seq/ });
});
