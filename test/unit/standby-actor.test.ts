import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, stop, type Ref } from 'nact';
import { pino } from 'pino';
import { spawnStandbyActor, type StandbyMessage } from '../../src/actors/master/standby-actor.js';
import { masterHandlers } from '../../src/actors/master/handlers.js';
import type { MasterProcess } from '../../src/actors/master/master-process.js';
import { emptyNamespace } from '../../src/core/namespace.js';
import { ChunkTable } from '../../src/core/chunk-table.js';
import type { Envelope } from '../../src/transport/envelope.js';
import type { Caller } from '../../src/core/permissions.js';
import type { EventId, MasterEvent } from '../../src/core/events.js';
import { MasterStore } from '../../src/storage/master-store.js';
import { ask as askPlain, askResult } from '../../src/util/ask.js';

const event = (seq: number, epoch: number): MasterEvent => ({ type: 'DirectoryCreated', seq, epoch, path: `/d${seq}-e${epoch}`, mtime: 1 });

test('a resumed standby takes events only from the epoch it resumed at on: a deposed master still retrying cannot extend its history', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-standby-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const opened = await MasterStore.open(dir, () => undefined);
  await opened.store.append([event(1, 5), event(2, 5)]);
  await opened.store.close();
  // A restart: the standby's fence starts from nothing.
  const { store, ...recovered } = await MasterStore.open(dir, () => undefined);
  t.teardown(() => store.close());
  const system = start();
  t.teardown(() => stop(system as Ref<unknown>));
  const standby = spawnStandbyActor(system, recovered, store, 10_000, pino({ level: 'silent' }));
  const ask = askResult<StandbyMessage>(standby);

  t.deepEqual(await ask<EventId | undefined>((sender) => ({ kind: 'attaching', sender })), { seq: 2, epoch: 5 });
  // The active of epoch 6 resumes it at seq 2.
  t.is(await ask<number>((sender) => ({ kind: 'resume', seq: 2, epoch: 6, sender })), 2);
  // The deposed active of epoch 5 sends its event 3 first: refused, and nothing changes.
  await t.throwsAsync(ask<number>((sender) => ({ kind: 'append', events: [event(3, 5)], epoch: 5, sender })), { message: /epoch 5, but a master of epoch 6 is active/ });
  t.is(await ask<number>((sender) => ({ kind: 'append', events: [event(3, 6)], epoch: 6, sender })), 3);
  t.deepEqual(store.newestEvent, { seq: 3, epoch: 6 }, 'the new active’s event 3, not the deposed one’s');
});

/** A standby actor on a fresh store in a temporary directory. */
async function freshStandby(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-standby-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { store, ...recovered } = await MasterStore.open(dir, () => undefined);
  t.teardown(() => store.close());
  const system = start();
  t.teardown(() => stop(system as Ref<unknown>));
  const standby = spawnStandbyActor(system, recovered, store, 10_000, pino({ level: 'silent' }));
  return { store, standby, ask: askResult<StandbyMessage>(standby) };
}

test('a master that took over installs no snapshot an attach still under way brings, nor resumes: its journal is the active one now', async (t) => {
  const { store, standby, ask } = await freshStandby(t);
  t.is(await ask<number>((sender) => ({ kind: 'resume', seq: 0, epoch: 1, sender })), 0);
  t.is(await ask<number>((sender) => ({ kind: 'append', events: [event(1, 1), event(2, 1)], epoch: 1, sender })), 2);
  // An attach begins (the active died meanwhile), then the takeover takes the state.
  await ask<unknown>((sender) => ({ kind: 'attaching', sender }) as StandbyMessage);
  const handed = await askPlain(standby)<{ ns: { seq: number } }>((sender) => ({ kind: 'take-over', sender }) as StandbyMessage);
  t.is(handed.ns.seq, 2);
  const other = { ns: { ...emptyNamespace, seq: 7 }, table: new ChunkTable() };
  await t.throwsAsync(ask<number>((sender) => ({ kind: 'install', snapshot: other, epoch: 2, sender })), { code: 'ESTALE', message: /took over: it installs no snapshot/ });
  await t.throwsAsync(ask<number>((sender) => ({ kind: 'resume', seq: 2, epoch: 2, sender })), { code: 'ESTALE' });
  t.deepEqual(store.newestEvent, { seq: 2, epoch: 1 }, 'its journal still holds its events');
});

test('standby.append while the standby attaches is answered EBUSY at once, without waiting for its actor; after, the actor answers', async (t) => {
  const { standby } = await freshStandby(t);
  const process = { id: 'm1', mode: 'standby', attaching: true, epochs: { check: async () => undefined }, standbyActor: standby } as unknown as MasterProcess;
  const append = masterHandlers(process, 3)['standby.append']!;
  const call = () => append({ events: [event(1, 1)] }, [], { epoch: 1 } as Envelope, {} as Caller);
  await t.throwsAsync(call(), { code: 'EBUSY', message: /standby m1 is attaching/ });
  process.attaching = false;
  // Not attached to any active: the actor refuses, and the active's bound for an unreachable standby applies.
  await t.throwsAsync(call(), { code: 'EUNAVAILABLE', message: /not attached/ });
});
