import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { spawnStateless, start, stop, type Ref } from 'nact';
import type { ChunkInfo } from '../../src/storage/chunk-store.js';
import { ChunkStore } from '../../src/storage/chunk-store.js';
import { COPY_PIECE_BYTES } from '../../src/actors/chunkserver/chunk-replica-actor.js';
import { HeldLeases } from '../../src/actors/chunkserver/held-leases.js';
import { ReplicaRouter } from '../../src/actors/chunkserver/replica-router.js';
import { pino } from 'pino';
import { waitFor } from '../helpers/cluster.js';

const IDLE_MS = 60;

async function routerFor(t: ExecutionContext): Promise<ReplicaRouter> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ofs-router-'));
  const store = await ChunkStore.open(dir, { maxChunkSize: 4 * COPY_PIECE_BYTES });
  const system = start();
  const parent = spawnStateless(system, () => undefined, 'replicas');
  const router = new ReplicaRouter(parent, store, new HeldLeases(), pino({ level: 'silent' }), IDLE_MS);
  t.teardown(async () => {
    router.close();
    stop(system as Ref<unknown>);
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return router;
}

const id = (n: number) => n.toString(16).padStart(16, '0');

test('an idle replica actor is stopped, and the next operation on its chunk starts another that finds the chunk on disk', async (t) => {
  const router = await routerFor(t);
  await router.ask<ChunkInfo>(id(1), (sender) => ({ kind: 'set-version', chunkId: id(1), version: 1, fresh: true, sender }));
  t.is(router.size, 1);
  await waitFor('the idle replica stopped', async () => router.size === 0, 5_000);
  const read = await router.ask<Buffer>(id(1), (sender) => ({ kind: 'read', chunkId: id(1), version: 1, offset: 0, length: 10, sender }));
  t.is(read.length, 0);
  t.is(router.size, 1);
});

test('a replica busy for longer than the idle time is not stopped: an operation sent meanwhile waits its turn behind the busy one', async (t) => {
  const router = await routerFor(t);
  const copied = Buffer.alloc(COPY_PIECE_BYTES + 5, 7);
  // A copy whose source answers slowly keeps the replica busy past several sweeps.
  const copy = router.ask<ChunkInfo>(id(2), (sender) => ({
    kind: 'copy',
    chunkId: id(2),
    version: 3,
    fetch: async (offset) => {
      await sleep(IDLE_MS * 3);
      return copied.subarray(offset, offset + COPY_PIECE_BYTES);
    },
    sender,
  }));
  await sleep(IDLE_MS * 2);
  // Sent while the copy runs: on a second actor it would run now, and find the copy unfinished (version 0).
  const read = router.ask<Buffer>(id(2), (sender) => ({ kind: 'read', chunkId: id(2), version: 3, offset: 0, length: copied.length, sender }));
  await sleep(IDLE_MS * 2);
  t.is(router.size, 1, 'the busy replica is still running');
  t.is((await copy).length, copied.length);
  t.true((await read).equals(copied), 'the read ran after the copy, on the same actor');
});

test('thousands of chunks touched: every replica actor stops once idle', async (t) => {
  const router = await routerFor(t);
  const chunks = Array.from({ length: 2000 }, (_, i) => id(100 + i));
  await Promise.all(chunks.map((chunkId) => router.ask<number[]>(chunkId, (sender) => ({ kind: 'verify', chunkId, sender }))));
  t.is(router.size, chunks.length);
  await waitFor('every idle replica stopped', async () => router.size === 0, 5_000);
  t.pass();
});

test('a deleted chunk leaves no mutation serial behind: the book holds the chunks the server has, not every one it had', async (t) => {
  const router = await routerFor(t);
  const chunks = [id(3), id(4)];
  for (const chunkId of chunks) {
    await router.ask<ChunkInfo>(chunkId, (sender) => ({ kind: 'set-version', chunkId, version: 1, fresh: true, sender }));
    const { durable } = await router.ask<{ durable: Promise<unknown> }>(chunkId, (sender) => ({ kind: 'apply', chunkId, version: 1, serial: 1, mutation: { data: Buffer.from('ab'), offset: 0 }, sender }));
    await durable;
  }
  t.is(router.serialBooks, 2);
  await router.ask<void>(chunks[0]!, (sender) => ({ kind: 'delete', chunkId: chunks[0]!, sender }));
  t.is(router.serialBooks, 1);
});

test('only a version sent as a new chunk’s makes a replica, at whatever version the master chose; any other version of a chunk the server lacks is refused', async (t) => {
  const router = await routerFor(t);
  const setVersion = (chunkId: string, version: number, fresh: boolean) => router.ask<ChunkInfo>(chunkId, (sender) => ({ kind: 'set-version', chunkId, version, fresh, sender }));
  await t.throwsAsync(setVersion(id(7), 1, false), { code: 'ENOENT', message: /not on this chunkserver; version 1 of a chunk that is not new cannot create it/ });
  t.like(await setVersion(id(8), 2, true), { version: 2, length: 0 });
  t.like(await setVersion(id(8), 3, false), { version: 3 }, 'a replica it has takes a new version either way');
});

const setVersion = (router: ReplicaRouter, chunkId: string, version: number, fresh: boolean, put?: string) =>
  router.ask<ChunkInfo>(chunkId, (sender) => ({ kind: 'set-version', chunkId, version, fresh, put: put === undefined ? undefined : Buffer.from(put), sender }));
const readAll = (router: ReplicaRouter, chunkId: string, version: number) =>
  router.ask<Buffer>(chunkId, (sender) => ({ kind: 'read', chunkId, version, offset: 0, length: 1024, sender }));

test('a put’s first version makes the chunk with its bytes, synced before the answer; bytes with a version that is not a new chunk’s are refused and change nothing', async (t) => {
  const router = await routerFor(t);
  const made = await setVersion(router, id(7), 3, true, 'small file');
  t.is(made.length, 10);
  t.is(made.syncedLength, 10, 'synced before the answer');
  t.is((await readAll(router, id(7), 3)).toString(), 'small file');
  await t.throwsAsync(setVersion(router, id(7), 4, false, 'other'), { code: 'EINVAL', message: /only with a new chunk's first version/ });
  t.is((await readAll(router, id(7), 3)).toString(), 'small file', 'still at its version, with its bytes');
});

test('a new chunk’s first version over the bytes of an earlier try (a put never journaled) starts the replica empty; a late message of that older try never wipes the newer one', async (t) => {
  const router = await routerFor(t);
  await setVersion(router, id(8), 1, true, 'never journaled');
  const again = await setVersion(router, id(8), 2, true);
  t.is(again.length, 0, 'the next try’s first version finds an empty replica');
  t.is((await readAll(router, id(8), 2)).length, 0);
  // The newer try wrote its own bytes (a put, here); the older try's message arrives late.
  await setVersion(router, id(9), 2, true, 'newer');
  await t.throwsAsync(setVersion(router, id(9), 1, true, 'older'), { code: 'EINVAL' });
  t.is((await readAll(router, id(9), 2)).toString(), 'newer');
});
