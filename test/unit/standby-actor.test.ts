import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, stop, type Ref } from 'nact';
import { pino } from 'pino';
import { spawnStandbyActor, type StandbyMessage } from '../../src/actors/master/standby-actor.js';
import type { EventId, MasterEvent } from '../../src/core/events.js';
import { MasterStore } from '../../src/storage/master-store.js';
import { askResult } from '../../src/util/ask.js';

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
