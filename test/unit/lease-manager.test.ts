import test, { type ExecutionContext } from 'ava';
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
 * The lease manager with a stand-in master actor, whose answers (each after
 * its journal round, as the real one answers) the test releases in turn,
 * and stand-in chunkservers, whose chunk.setVersion the test answers: what
 * the lease manager does, and in which order, is what is under test.
 */
function harness(t: ExecutionContext) {
  const system = start();
  t.teardown(() => stop(system as Ref<unknown>));
  const order: string[] = [];
  /** Master answers held until the test releases them, as journal rounds under way. */
  const journaling: (() => void)[] = [];
  const master = spawnStateless(system, (msg: MasterMessage) => {
    if (msg.kind === 'prepare-lease') journaling.push(() => (order.push('create and chunk journaled'), dispatch(msg.sender, ok(candidate))));
    if (msg.kind === 'lease-granted') journaling.push(() => (order.push(`version ${msg.lease.version} journaled`), dispatch(msg.sender, ok({}))));
  }) as Ref<MasterMessage>;
  const setVersions: (() => void)[] = [];
  const rpc = {
    call: (address: string, type: string, body: { version: number }) =>
      new Promise((resolve) => {
        order.push(`${type} ${body.version} to ${address.split('/').at(-1)}`);
        setVersions.push(() => resolve({ body: { version: body.version, length: 0 }, data: [] }));
      }),
  } as unknown as RpcClient;
  const leases = spawnLeaseManager(system, master, rpc, { leaseMs: 60_000, chunkSize: 64 << 20, metrics: { granted: () => undefined } }, pino({ level: 'silent' }));
  const ask = () =>
    askResult<LeaseMessage>(leases)<LeaseReply>((sender) => ({ kind: 'lease', path: '/f', index: 0, afterFailure: false, create: { overwrite: true }, caller: UNCHECKED, sender })).then((reply) => {
      order.push('client answered');
      return reply;
    });
  return { ask, order, journaling, setVersions };
}

const until = async (what: () => boolean) => {
  while (!what()) await new Promise((r) => setTimeout(r, 5));
};
const settleTurns = () => new Promise((r) => setTimeout(r, 50));

// Chunk ids come from a counter: one a chunkserver heard of before its allocation was durable could
// be handed out again by a master that took over without it, and the first holders' empty replicas
// would then pass for current ones of the new chunk.
test('a new file’s first chunk: no chunkserver hears of it before the create and its allocation are journaled, and the client hears of the lease only once its version is', async (t) => {
  const { ask, order, journaling, setVersions } = harness(t);
  const lease = ask();
  await until(() => journaling.length === 1);
  await settleTurns();
  t.deepEqual(order, [], 'nothing goes to a chunkserver while the allocation is being journaled');
  journaling[0]!();
  await until(() => setVersions.length === 3);
  for (const answer of setVersions) answer();
  await until(() => journaling.length === 2);
  await settleTurns();
  t.false(order.includes('client answered'), 'no answer while the new version is being journaled');
  journaling[1]!();
  const reply = await lease;
  t.is(reply.version, 1);
  t.is(reply.primary.id, 'cs-a');
  t.deepEqual(order, ['create and chunk journaled', 'chunk.setVersion 1 to cs-a', 'chunk.setVersion 1 to cs-b', 'chunk.setVersion 1 to cs-c', 'version 1 journaled', 'client answered']);
});
