import test from 'ava';
import { dispatch, spawnStateless, start, stop, type Ref } from 'nact';
import { pino } from 'pino';
import { spawnLeaseManager, type LeaseMessage, type LeaseReply } from '../../src/actors/master/lease-manager.js';
import type { MasterMessage } from '../../src/actors/master/master-messages.js';
import type { LeaseCandidate } from '../../src/core/master-planners.js';
import { UNCHECKED } from '../../src/core/permissions.js';
import type { RpcClient } from '../../src/transport/rpc-client.js';
import { askResult } from '../../src/util/ask.js';
import { ok } from '../../src/util/result.js';

const servers = ['cs-a', 'cs-b', 'cs-c'].map((id) => ({ id, address: `tcp://127.0.0.1:1/${id}` }));
const candidate: LeaseCandidate = { path: '/f', index: 0, chunkId: '00000000000000aa', version: 0, candidates: servers, liveIds: servers.map((s) => s.id) };

/**
 * The lease manager with a stand-in master actor (its prepare answered at
 * once, its journal round settled by the test) and stand-in chunkservers (a
 * chunk.setVersion answered when the test says): what the lease manager does,
 * and in which order, is what is under test.
 */
function harness(t: import('ava').ExecutionContext) {
  const system = start();
  t.teardown(() => stop(system as Ref<unknown>));
  const order: string[] = [];
  // Each prepare's journal round, settled by the test in turn.
  const rounds: (() => void)[] = [];
  let durable = Promise.resolve();
  // The chunk's version as the master holds it: the newest granted.
  let version = candidate.version;
  const master = spawnStateless(system, (msg: MasterMessage) => {
    if (msg.kind === 'prepare-lease') {
      const round = rounds.length + 1;
      const mine = new Promise<void>((resolve) => rounds.push(() => (order.push(`prepare ${round} journaled`), resolve())));
      durable = Promise.all([durable, mine]).then(() => undefined);
      dispatch(msg.sender, ok({ candidate: { ...candidate, version }, durable: mine }));
    }
    if (msg.kind === 'lease-granted') {
      order.push(`version ${msg.lease.version} journaled`);
      version = msg.lease.version;
      // The real master answers once everything journaled so far is durable: the create too.
      void durable.then(() => dispatch(msg.sender, ok({})));
    }
  }) as Ref<MasterMessage>;
  const setVersions: { server: string; answer: () => void }[] = [];
  const rpc = {
    call: (address: string, type: string, body: { version: number }) =>
      new Promise((resolve) => {
        order.push(`${type} ${body.version} to ${address.split('/').at(-1)}`);
        setVersions.push({ server: address, answer: () => resolve({ body: { version: body.version, length: 0 }, data: [] }) });
      }),
  } as unknown as RpcClient;
  const metrics = { granted: () => undefined };
  const leases = spawnLeaseManager(system, master, rpc, { leaseMs: 60_000, chunkSize: 64 << 20, metrics }, pino({ level: 'silent' }));
  const ask = (create: boolean) =>
    askResult<LeaseMessage>(leases)<LeaseReply>((sender) => ({ kind: 'lease', path: '/f', index: 0, afterFailure: false, create: create ? { overwrite: true } : undefined, caller: UNCHECKED, sender })).then((reply) => {
      order.push('client answered');
      return reply;
    });
  return { ask, order, rounds, setVersions };
}

const settleTurns = () => new Promise((r) => setTimeout(r, 50));

test('a new file’s first chunk: its version goes to the replicas while the create is journaled, and the client hears of the lease only once both are done', async (t) => {
  const { ask, order, rounds, setVersions } = harness(t);
  const lease = ask(true);
  while (setVersions.length < 3) await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(order, ['chunk.setVersion 1 to cs-a', 'chunk.setVersion 1 to cs-b', 'chunk.setVersion 1 to cs-c'], 'the replicas are asked before the create is journaled');
  for (const { answer } of setVersions) answer();
  await settleTurns();
  t.false(order.includes('client answered'), 'no answer while the create is not journaled');
  rounds[0]!();
  const reply = await lease;
  t.is(reply.version, 1);
  t.is(reply.primary.id, 'cs-a');
  t.deepEqual(order.slice(3), ['version 1 journaled', 'prepare 1 journaled', 'client answered']);
});

test('a lease in force is handed out again only once what its request prepared is journaled', async (t) => {
  const { ask, order, rounds, setVersions } = harness(t);
  const first = ask(true);
  while (setVersions.length < 3) await new Promise((r) => setTimeout(r, 5));
  for (const { answer } of setVersions) answer();
  rounds[0]!();
  await first;
  order.length = 0;
  const again = ask(false);
  await settleTurns();
  t.deepEqual(order, [], 'the lease in force is not handed out before its prepare is journaled');
  t.is(setVersions.length, 3, 'nor granted anew');
  rounds[1]!();
  t.is((await again).version, 1);
  t.deepEqual(order, ['prepare 2 journaled', 'client answered']);
});
