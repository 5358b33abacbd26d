import test, { type ExecutionContext } from 'ava';
import { start, stop, type Ref } from 'nact';
import { pino } from 'pino';
import { spawnMasterActor } from '../../src/actors/master/master-actor.js';
import type { EventSink, MasterMessage, PreparedLease } from '../../src/actors/master/master-messages.js';
import { ChunkTable } from '../../src/core/chunk-table.js';
import { emptyNamespace } from '../../src/core/namespace.js';
import { UNCHECKED } from '../../src/core/permissions.js';
import { askResult } from '../../src/util/ask.js';
import { server } from '../helpers/master-state.js';

const EPOCH = 5;
const CHUNK_SIZE = 64 << 20;

/**
 * The master actor with a sink whose journal rounds the test ends, one
 * call each: when the actor answers, against when its events are durable,
 * is what is under test.
 */
function harness(t: ExecutionContext) {
  const system = start();
  t.teardown(() => stop(system as Ref<unknown>));
  const rounds: (() => void)[] = [];
  const sink: EventSink = {
    append: () => new Promise<void>((resolve) => rounds.push(resolve)),
    checkpoint: async () => ({}) as never,
  };
  const settings = {
    id: 'master-test',
    address: 'tcp://127.0.0.1:1',
    chunkSize: CHUNK_SIZE,
    replication: 3,
    heartbeatTimeoutMs: 60_000,
    checkpointEvery: 1_000_000,
    epoch: () => EPOCH,
    standbys: () => [],
    attachStandby: () => undefined,
    onChunksDetached: () => undefined,
  };
  const master = spawnMasterActor(system, { ns: emptyNamespace, table: ChunkTable.of(emptyNamespace) }, settings, sink, pino({ level: 'silent' })) as Ref<MasterMessage>;
  const ask = askResult<MasterMessage>(master);
  const settled = <T>(promise: Promise<T>) => {
    const state = { done: false };
    promise.then(
      () => (state.done = true),
      () => (state.done = true),
    );
    return state;
  };
  return { ask, rounds, settled };
}

const turns = () => new Promise((r) => setTimeout(r, 50));

test('a create with a lease: the placement is answered during the journal round (its ids of the master’s epoch), the durable promise once the round ends', async (t) => {
  const { ask, rounds, settled } = harness(t);
  for (const id of ['a', 'b', 'c']) {
    const beat = ask((sender) => ({ kind: 'request', type: 'master.heartbeat', body: { ...server(id, 0, 100 * CHUNK_SIZE), leases: [] }, caller: UNCHECKED, sender }));
    await turns();
    for (const end of rounds.splice(0)) end();
    await beat;
  }
  const prepared = await ask<PreparedLease>((sender) => ({ kind: 'prepare-lease', path: '/f', index: 0, create: { overwrite: true }, caller: UNCHECKED, sender }));
  t.is(prepared.candidate.chunkId, (EPOCH * 2 ** 32).toString(16).padStart(16, '0'));
  t.is(prepared.candidate.candidates.length, 3);
  const durable = settled(prepared.durable);
  await turns();
  t.false(durable.done, 'not durable while the journal round runs');
  for (const end of rounds.splice(0)) end();
  await prepared.durable;
  t.pass();
});

test('a create with a lease that cannot be placed: the refusal waits for the create’s journal round (the file stays made)', async (t) => {
  const { ask, rounds, settled } = harness(t);
  const refused = ask((sender) => ({ kind: 'prepare-lease', path: '/f', index: 0, create: { overwrite: true }, caller: UNCHECKED, sender }));
  const answered = settled(refused);
  await turns();
  t.is(rounds.length, 1, 'the create went to the journal');
  t.false(answered.done, 'no answer before the create is durable');
  rounds[0]!();
  await t.throwsAsync(refused, { code: 'EUNAVAILABLE', message: /no chunkserver has reported/ });
  const stat = await ask((sender) => ({ kind: 'request', type: 'master.locate', body: { path: '/f' }, caller: UNCHECKED, sender }));
  t.like(stat, { type: 'file', size: 0 });
});

test('a refusal decided on state still being journaled waits for it: an EEXIST never reveals a create a crash could lose', async (t) => {
  const { ask, rounds, settled } = harness(t);
  const create = (overwrite: boolean) => ask((sender) => ({ kind: 'request', type: 'master.create', body: { path: '/g', overwrite }, caller: UNCHECKED, sender }));
  const first = settled(create(false));
  const second = create(false);
  const refused = settled(second);
  await turns();
  t.false(first.done);
  t.false(refused.done, 'the EEXIST waits for the first create to be durable');
  for (const end of rounds.splice(0)) end();
  await t.throwsAsync(second, { code: 'EEXIST' });
});
