import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decideChunksUpTo, decideCreate, decideDelete, decideExtend, decideMkdir, decideRename } from '../../src/core/commands.js';
import type { MasterEvent, UnsequencedEvent } from '../../src/core/events.js';
import { namespaceDigest } from '../../src/core/namespace-snapshot.js';
import { MasterStore } from '../../src/storage/master-store.js';
import { applyAll, emptyNamespace, lookup, type Namespace } from '../../src/core/namespace.js';
import { remembers } from '../../src/core/retry-cache.js';
import { checkpointFileName } from '../../src/storage/checkpoint.js';
import { legacyCheckpointBytes } from '../helpers/legacy-checkpoint.js';
import { SHARED_DIRECTORY, SUPERGROUP, SUPERUSER, UNCHECKED } from '../../src/core/permissions.js';

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Decides, journals and applies, as the master actor does; returns the live state. */
async function record(store: MasterStore, ns: Namespace, decided: UnsequencedEvent[]): Promise<Namespace> {
  const events = decided.map((e, i) => ({ ...e, seq: ns.seq + 1 + i }) as MasterEvent);
  await store.append(events);
  return applyAll(ns, events);
}

async function workload(store: MasterStore, ns: Namespace, round: number): Promise<Namespace> {
  const dir = `/r${round}`;
  ns = await record(store, ns, decideMkdir(ns, `${dir}/a/b`, true, round, UNCHECKED));
  for (let i = 0; i < 20; i++) {
    const path = `${dir}/a/f${i}`;
    ns = await record(store, ns, decideCreate(ns, path, false, round, UNCHECKED));
    ns = await record(store, ns, decideChunksUpTo(ns, path, 0, 0));
    ns = await record(store, ns, decideExtend(ns, path, 10, 64, round));
  }
  ns = await record(store, ns, decideRename(ns, `${dir}/a/f0`, `${dir}/a/b/g`, round, UNCHECKED));
  return record(store, ns, decideDelete(ns, `${dir}/a/f1`, false, round, UNCHECKED));
}

test('replaying checkpoint + journal gives exactly the state the live master had', async (t) => {
  const dir = await tempDir(t);
  const opened = await MasterStore.open(dir, () => undefined);
  let live = await workload(opened.store, opened.ns, 1);
  await opened.store.checkpoint(live);
  live = await workload(opened.store, live, 2);
  await opened.store.checkpoint(live);
  live = await workload(opened.store, live, 3); // only in the journal
  await opened.store.close();

  const reopened = await MasterStore.open(dir, () => undefined);
  t.is(reopened.ns.seq, live.seq);
  t.is(namespaceDigest(reopened.ns), namespaceDigest(live));
  t.deepEqual(reopened.ns, live);
  await reopened.store.close();
});

test('reset replaces everything on disk with the given state', async (t) => {
  const dir = await tempDir(t);
  const opened = await MasterStore.open(dir, () => undefined);
  await workload(opened.store, opened.ns, 1);
  const other = await (async () => {
    const otherDir = await tempDir(t);
    const o = await MasterStore.open(otherDir, () => undefined);
    const ns = await workload(o.store, emptyNamespace, 7);
    await o.store.close();
    return ns;
  })();
  await opened.store.reset(other);
  const next = await record(opened.store, other, decideMkdir(other, '/after-reset', false, 9, UNCHECKED));
  await opened.store.close();
  const reopened = await MasterStore.open(dir, () => undefined);
  t.is(namespaceDigest(reopened.ns), namespaceDigest(next));
  await reopened.store.close();
});

test('a checkpoint from an older OFS (one JSON payload; a retry cache as a list of ids; a directory as one object) loads and takes new ids', async (t) => {
  const dir = await tempDir(t);
  const file = { kind: 'file', size: 3, mtime: 1, chunks: [{ id: '0000000000000001', version: 1 }] };
  const old = {
    seq: 2,
    nextChunkId: 2,
    root: { kind: 'dir', mtime: 0, children: { old: { kind: 'dir', mtime: 1, children: { f: file, keys: file } } } },
    recentRequests: ['r-old-1', 'r-old-2'],
  };
  await mkdir(join(dir, 'checkpoints'), { recursive: true });
  await writeFile(join(dir, 'checkpoints', checkpointFileName(2)), legacyCheckpointBytes(2, old));
  const { ns: loaded } = await MasterStore.open(dir, () => undefined);
  // No owners then: the superuser's, with the default modes; the root shared.
  const owned = { ...file, owner: SUPERUSER, group: SUPERGROUP, mode: 0o644 };
  t.deepEqual(lookup(loaded, '/old/keys'), owned);
  t.deepEqual(lookup(loaded, '/old/f'), owned);
  t.like(lookup(loaded, '/old'), { owner: SUPERUSER, group: SUPERGROUP, mode: 0o755 });
  t.like(loaded.root, SHARED_DIRECTORY);
  t.true(remembers(loaded.recentRequests, 'r-old-1') && remembers(loaded.recentRequests, 'r-old-2'));
  const next = applyAll(loaded, [{ type: 'DirectoryCreated', path: '/new', mtime: 2, seq: 3, requestId: 'r-2' }]);
  t.true(remembers(next.recentRequests, 'r-2'));
  t.true(lookup(next, '/old')?.kind === 'dir');
});

test('the store names its newest event by seq and epoch, across a reopen; it holds an event only with the same epoch and not too far back', async (t) => {
  const dir = await tempDir(t);
  const opened = await MasterStore.open(dir, () => undefined);
  t.is(opened.store.newestEvent, undefined, 'an empty store');
  const events = Array.from({ length: 30 }, (_, i): MasterEvent => ({ type: 'DirectoryCreated', seq: i + 1, epoch: i < 20 ? 3 : 4, path: `/d${i}`, mtime: 1 }));
  await opened.store.append(events);
  t.deepEqual(opened.store.newestEvent, { seq: 30, epoch: 4 });
  t.true(await opened.store.holds({ seq: 20, epoch: 3 }, 100));
  t.false(await opened.store.holds({ seq: 20, epoch: 4 }, 100), 'another master’s event 20: the histories differ');
  t.false(await opened.store.holds({ seq: 31, epoch: 4 }, 100), 'an event this journal does not have');
  t.false(await opened.store.holds({ seq: 20, epoch: 3 }, 5), 'more events after it than may be streamed');
  t.deepEqual((await opened.store.eventsFrom(21, 25)).map((e) => e.seq), [21, 22, 23, 24, 25]);
  await t.throwsAsync(opened.store.eventsFrom(25, 31), { message: /holds seq 25..30 of 25..31/ });
  await opened.store.close();

  const reopened = await MasterStore.open(dir, () => undefined);
  t.deepEqual(reopened.store.newestEvent, { seq: 30, epoch: 4 });
  await reopened.store.reset(reopened.ns);
  t.is(reopened.store.newestEvent, undefined, 'after installing a snapshot: its last event is in no journal here');
  t.false(await reopened.store.holds({ seq: 30, epoch: 4 }, 100));
  await reopened.store.close();
  t.is((await MasterStore.open(dir, () => undefined)).store.newestEvent, undefined);
});
