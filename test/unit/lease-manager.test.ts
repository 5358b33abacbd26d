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
import { OfsError } from '../../src/core/errors.js';

const servers = ['cs-a', 'cs-b', 'cs-c'].map((id) => ({ id, address: `tcp://127.0.0.1:1/${id}` }));
const candidate: LeaseCandidate = { path: '/f', index: 0, chunkId: '00000000000000aa', version: 0, candidates: servers, liveIds: servers.map((s) => s.id) };

/**
 * The lease manager with a stand-in master actor, whose answers (each after
 * its journal round, as the real one answers) the test releases in turn,
 * and stand-in chunkservers, whose chunk.setVersion the test answers: what
 * the lease manager does, and in which order, is what is under test.
 */
function harness(t: ExecutionContext, prepared: Partial<LeaseCandidate> = {}) {
  const system = start();
  t.teardown(() => stop(system as Ref<unknown>));
  const order: string[] = [];
  /** Journal rounds under way, each ended when the test calls it. */
  const journaling: (() => void)[] = [];
  const master = spawnStateless(system, (msg: MasterMessage) => {
    // As the real master actor: the candidate at once, with the promise of the create's journal round.
    if (msg.kind === 'prepare-lease' || msg.kind === 'prepare-put') {
      const durable = new Promise<void>((resolve) => journaling.push(() => (order.push('create and chunk journaled'), resolve())));
      dispatch(msg.sender, ok({ candidate: { ...candidate, ...prepared }, durable }));
    }
    const size = msg.kind === 'lease-granted' && msg.put ? ` with size ${msg.put.size}` : '';
    if (msg.kind === 'lease-granted') journaling.push(() => (order.push(`version ${msg.lease.version}${size} journaled`), dispatch(msg.sender, ok({}))));
  }) as Ref<MasterMessage>;
  /** Each chunk.setVersion under way: answered, failed as a call that timed out (`false`), or refused with an error. */
  const setVersions: ((answered?: boolean | OfsError) => void)[] = [];
  const fresh: boolean[] = [];
  /** The bytes each chunk.setVersion carried (a put's), as text. */
  const carried: (string | undefined)[] = [];
  const rpc = {
    call: (address: string, type: string, body: { version: number; fresh?: boolean; put?: number }, options: { data?: Buffer[] } = {}) =>
      new Promise((resolve, reject) => {
        order.push(`${type} ${body.version} to ${address.split('/').at(-1)}`);
        fresh.push(body.fresh === true);
        carried.push(body.put === undefined ? undefined : options.data![0]!.toString());
        setVersions.push((answered = true) => {
          if (answered instanceof OfsError) reject(answered);
          else if (answered) resolve({ body: { version: body.version, length: body.put ?? 0 }, data: [] });
          else reject(new OfsError('ETIMEDOUT', 'chunk.setVersion timed out'));
        });
      }),
  } as unknown as RpcClient;
  const leases = spawnLeaseManager(system, master, rpc, { leaseMs: 60_000, chunkSize: 64 << 20, metrics: { granted: () => undefined } }, pino({ level: 'silent' }));
  const ask = () =>
    askResult<LeaseMessage>(leases)<LeaseReply>((sender) => ({ kind: 'lease', path: '/f', index: 0, afterFailure: false, create: { overwrite: true }, caller: UNCHECKED, sender })).then((reply) => {
      order.push('client answered');
      return reply;
    });
  const put = (bytes: string) =>
    askResult<LeaseMessage>(leases)<void>((sender) => ({ kind: 'put', path: '/f', data: Buffer.from(bytes), requestId: 'put-1', caller: UNCHECKED, sender })).then(() => {
      order.push('client answered');
    });
  return { ask, put, order, journaling, setVersions, fresh, carried };
}

const until = async (what: () => boolean) => {
  while (!what()) await new Promise((r) => setTimeout(r, 5));
};
const settleTurns = () => new Promise((r) => setTimeout(r, 50));

// The replicas hear of the new chunk while its allocation is being journaled (a crash then leaves
// them a chunk no file owns, and its id is never handed out again: unit/namespace.test.ts), but no
// client hears of the lease before both the create and the new version are durable.
test('a new file’s first chunk: its version goes to the replicas during the create’s journal round, and the client hears of the lease only once the create and the version are journaled', async (t) => {
  const { ask, order, journaling, setVersions } = harness(t);
  const lease = ask();
  await until(() => setVersions.length === 3);
  t.deepEqual(order, ['chunk.setVersion 1 to cs-a', 'chunk.setVersion 1 to cs-b', 'chunk.setVersion 1 to cs-c'], 'the version round does not wait for the create’s journal round');
  for (const answer of setVersions) answer();
  await until(() => journaling.length === 2);
  journaling[1]!();
  await settleTurns();
  t.false(order.includes('client answered'), 'no answer while the create is being journaled, though the version is journaled');
  journaling[0]!();
  const reply = await lease;
  t.is(reply.version, 1);
  t.is(reply.primary.id, 'cs-a');
  t.deepEqual(order.slice(3), ['version 1 journaled', 'create and chunk journaled', 'client answered']);
});

test('a new file’s first chunk: the client hears of the lease only once its version is journaled', async (t) => {
  const { ask, order, journaling, setVersions } = harness(t);
  const lease = ask();
  await until(() => journaling.length === 1);
  journaling[0]!();
  await until(() => setVersions.length === 3);
  for (const answer of setVersions) answer();
  await until(() => journaling.length === 2);
  await settleTurns();
  t.false(order.includes('client answered'), 'no answer while the new version is being journaled');
  journaling[1]!();
  t.is((await lease).version, 1);
  t.deepEqual(order.slice(-2), ['version 1 journaled', 'client answered']);
});

test('a new chunk whose first version no replica took: the next try goes above it, so a replica that took it late is stale, not an empty one at the chunk’s version', async (t) => {
  const { ask, order, journaling, setVersions, fresh } = harness(t);
  const first = ask();
  await until(() => setVersions.length === 3);
  for (const answer of setVersions.splice(0)) answer(false);
  await until(() => journaling.length === 1);
  journaling.shift()!(); // the create's round
  await t.throwsAsync(first, { code: 'EUNAVAILABLE', message: /no replica took a new version/ });
  t.deepEqual(order.filter((o) => o.includes('journaled')), ['create and chunk journaled'], 'no version was journaled');
  const second = ask();
  await until(() => setVersions.length === 3);
  t.deepEqual(order.slice(-3), ['chunk.setVersion 2 to cs-a', 'chunk.setVersion 2 to cs-b', 'chunk.setVersion 2 to cs-c']);
  t.deepEqual(fresh, [true, true, true, true, true, true], 'each call says the chunk is new: a server without it makes it');
  for (const answer of setVersions.splice(0)) answer();
  await until(() => journaling.length === 2);
  for (const end of journaling.splice(0)) end();
  t.is((await second).version, 2);
});

test('a new chunk a server already reported at some version (a first try never journaled): the grant goes above it', async (t) => {
  const { ask, order, journaling, setVersions } = harness(t, { versionFloor: 4 });
  const lease = ask();
  await until(() => setVersions.length === 3);
  t.deepEqual(order.slice(0, 3), ['chunk.setVersion 5 to cs-a', 'chunk.setVersion 5 to cs-b', 'chunk.setVersion 5 to cs-c']);
  for (const answer of setVersions.splice(0)) answer();
  await until(() => journaling.length === 2);
  for (const end of journaling.splice(0)) end();
  t.is((await lease).version, 5);
});

test('a put: its bytes go with the first version only; after a miss the replicas that answered go up once more without them (keeping them), and the version and the size are journaled together before the client hears', async (t) => {
  const { put, order, journaling, setVersions, fresh, carried } = harness(t);
  const done = put('small');
  await until(() => setVersions.length === 3);
  t.deepEqual(carried, ['small', 'small', 'small']);
  setVersions[0]!();
  setVersions[1]!();
  setVersions[2]!(false); // cs-c did not answer in time
  await until(() => setVersions.length === 5);
  t.deepEqual(order.slice(3, 5), ['chunk.setVersion 2 to cs-a', 'chunk.setVersion 2 to cs-b']);
  t.deepEqual(carried.slice(3), [undefined, undefined], 'the second round carries no bytes: the replicas hold them');
  t.deepEqual(fresh, [true, true, true, false, false], 'nor says the chunk is new, which would start it empty');
  setVersions[3]!();
  setVersions[4]!();
  journaling.shift()!(); // the create's round
  await until(() => journaling.length === 1);
  await settleTurns();
  t.false(order.includes('client answered'), 'no answer before the version and size are journaled');
  journaling.shift()!();
  await done;
  t.deepEqual(order.slice(-2), ['version 2 with size 5 journaled', 'client answered']);
});

test('a new chunk every replica refuses for want of room fails with ENOSPC, not as unanswered', async (t) => {
  const { put, journaling, setVersions } = harness(t);
  const done = put('small');
  await until(() => setVersions.length === 3);
  for (const answer of setVersions) answer(new OfsError('ENOSPC', 'no space left on device'));
  journaling.shift()!();
  await t.throwsAsync(done, { code: 'ENOSPC', message: /no replica has room/ });
});

test('a put retried under its request id while it is under way waits for it: one file made, one round to the replicas, both calls answered alike', async (t) => {
  const { put, order, journaling, setVersions } = harness(t);
  const first = put('small');
  await until(() => setVersions.length === 3);
  const retry = put('small');
  await settleTurns();
  t.is(order.filter((o) => o.startsWith('chunk.setVersion')).length, 3, 'the retry made no file and sent no version of its own');
  for (const answer of setVersions) answer();
  journaling.shift()!();
  await until(() => journaling.length === 1);
  journaling.shift()!();
  await Promise.all([first, retry]);
  t.is(order.filter((o) => o === 'client answered').length, 2);
  // Done, it is forgotten here: a later call under the id goes to the master, whose retry cache answers it.
  void put('small').catch(() => undefined);
  await settleTurns();
  t.is(setVersions.length, 6, 'a later call is not held back');
});
