import { readFile } from 'node:fs/promises';
import test, { type ExecutionContext } from 'ava';
import { OfsClient } from '../../src/client/ofs-client.js';
import { OfsError } from '../../src/core/errors.js';
import { clusterFor, patternBytes, sha256, waitFor, type TestCluster } from '../helpers/cluster.js';
import { activeMaster, waitForNewActiveWithStandby } from '../helpers/workload.js';

/** The long-lived client's retryForMs: how long one step of a call (a master request, a chunk mutation) may keep trying. */
const RETRY_FOR_MS = 6_000;
/** A chunk mutation may wait out a dead primary's lease (the test cluster's 5 s) and 5 s more. */
const MUTATION_BUDGET_MS = Math.max(RETRY_FOR_MS, 5_000 + 5_000);
/** Timers, a last attempt's answer, a busy machine. */
const SLACK_MS = 3_000;

/** What each kind of call may take at most: its steps' budgets, one after another. */
const DEADLINE_MS = {
  status: RETRY_FOR_MS + SLACK_MS,
  // create, one mutation, extend
  write: 2 * RETRY_FOR_MS + MUTATION_BUDGET_MS + SLACK_MS,
  // locate, then one piece (which locates again between its tries)
  read: 2 * RETRY_FOR_MS + SLACK_MS,
} as const;

interface Settled {
  call: keyof typeof DEADLINE_MS;
  ms: number;
  error?: unknown;
}

/** Errors a caller can act on: the cluster (or ZooKeeper) was unreachable for the whole budget. */
const CLEAR_CODES = new Set(['EUNAVAILABLE', 'ETIMEDOUT', 'ENOTACTIVE']);

/**
 * A status, a write and a read started together, each timed to the moment it
 * settles. Each is checked against its deadline as soon as it settles, and
 * the test waits for none longer than that (plus a margin to report it).
 */
async function callsUnderFault(
  t: ExecutionContext,
  client: OfsClient,
  round: string,
  readable: { path: string; sha: string },
  /** What a failed call's message must name. */
  cause: RegExp,
): Promise<Settled[]> {
  const timed = (call: Settled['call'], run: () => Promise<unknown>): Promise<Settled> => {
    const started = Date.now();
    const settled = run().then(
      () => ({ call, ms: Date.now() - started }),
      (error: unknown) => ({ call, ms: Date.now() - started, error }),
    );
    const hung = new Promise<Settled>((resolve) =>
      setTimeout(() => resolve({ call, ms: Infinity }), DEADLINE_MS[call] + 10_000).unref(),
    );
    return Promise.race([settled, hung]);
  };
  const data = patternBytes(10_000, round.length);
  const results = await Promise.all([
    timed('status', () => client.status()),
    timed('write', () => client.write(`/zk/${round}`, data)),
    timed('read', async () => {
      const got = sha256(await client.read(readable.path));
      if (got !== readable.sha) throw new Error(`read ${readable.path} returned other bytes (sha256 ${got})`);
    }),
  ]);
  for (const { call, ms, error } of results) {
    const outcome = error === undefined ? 'succeeded' : `failed: ${(error as Error).message}`;
    t.log(`${round}: ${call} ${outcome} after ${ms} ms`);
    t.true(ms <= DEADLINE_MS[call], `${round}: ${call} took ${ms} ms, past its ${DEADLINE_MS[call]} ms deadline (${outcome})`);
    if (error !== undefined) {
      t.true(error instanceof OfsError && CLEAR_CODES.has(error.code), `${round}: ${call} failed without a clear error: ${String(error)}`);
      t.regex((error as Error).message, cause, `${round}: ${call} failed without naming the cause`);
    }
  }
  return results;
}

/** The ZooKeeper role and the java server it runs: both must stop for ZooKeeper to freeze. */
async function zooKeeperPids(cluster: TestCluster): Promise<number[]> {
  const { pid } = await cluster.process('zookeeper');
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return [pid, ...children.split(/\s+/).filter(Boolean).map(Number)];
}

function signal(pids: number[], name: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
}

/** Written through `client` and read back, the bytes equal. */
async function writeAndReadBack(t: ExecutionContext, client: OfsClient, path: string, seed: number): Promise<void> {
  const data = patternBytes(300_000, seed);
  await client.write(path, data);
  t.is(sha256(await client.read(path)), sha256(data), `read back what was written to ${path}`);
}

/**
 * Once ZooKeeper is back: every role is back too (a fresh client sees an
 * active master, a standby in sync, and every chunkserver heartbeating: none
 * sat silent on a broken session), and the long-lived client finds the
 * master, writes and reads. Then it follows two failovers in a row. The
 * active master alternates between the two, so a client that still leaned on
 * a master address it saw before the outage (its ZooKeeper session lost, its
 * watch gone) fails one of them.
 */
async function worksAgain(t: ExecutionContext, cluster: TestCluster, client: OfsClient, round: string): Promise<void> {
  // The supervisor restarts the killed ZooKeeper; on a busy machine its JVM may take longer than one connect's 5 s.
  const fresh = await waitFor(`${round}: ZooKeeper restarted and answering`, () => cluster.client(), 60_000);
  try {
    await waitForNewActiveWithStandby(fresh, 'none', 90_000);
    await waitFor(`${round}: all 3 chunkservers heartbeating`, async () => (await fresh.status()).chunkservers.length === 3, 30_000);
  } finally {
    await fresh.close();
  }
  await waitForNewActiveWithStandby(client, 'none', 2 * RETRY_FOR_MS);
  await writeAndReadBack(t, client, `/zk/${round}-back`, 7);
  for (const failover of [1, 2]) {
    const active = await activeMaster(cluster, client);
    await cluster.kill(active.processId);
    await waitForNewActiveWithStandby(client, active.masterId, 60_000);
    await writeAndReadBack(t, client, `/zk/${round}-failover-${failover}`, 10 + failover);
  }
}

/** Stops ZooKeeper for this long before killing it: the client's ZooKeeper session (1.5 s) is lost for certain, as in the chaos run. */
const FROZEN_MS = 8_000;

// Issue 16: a client whose ZooKeeper session was lost while ZooKeeper was
// down never found a master again. Here ZooKeeper is paused before the
// active master dies, so the client's next calls can only learn the new
// master from ZooKeeper: they are inside a ZooKeeper request when it is
// killed. The second time it dies while the supervisor restarts a master.
test('ZooKeeper killed twice under a long-lived client: every call ends within its deadline and the client works again', async (t) => {
  t.timeout(300_000);
  const { cluster } = await clusterFor(t, { masters: 2, chunkservers: 3 });
  const client = await OfsClient.connect({ zk: cluster.zk, keys: cluster.keys, retryForMs: RETRY_FOR_MS });
  t.teardown(() => client.close());
  await waitForNewActiveWithStandby(client, 'none');
  const before = patternBytes(300_000, 1);
  await client.write('/zk/before', before);
  const readable = { path: '/zk/before', sha: sha256(before) };

  // Round 1: ZooKeeper frozen, the active master killed, calls started, then
  // ZooKeeper killed under them. No master can be elected while it is
  // frozen, so a call that fails must say that ZooKeeper did not answer.
  const frozen = await zooKeeperPids(cluster);
  const { processId: first } = await activeMaster(cluster, client);
  signal(frozen, 'SIGSTOP');
  t.teardown(() => signal(frozen, 'SIGKILL')); // a failed test must not leave it frozen
  await cluster.kill(first);
  const round1 = callsUnderFault(t, client, 'round1', readable, /ZooKeeper at \S+ did not answer/);
  await new Promise((resolve) => setTimeout(resolve, FROZEN_MS));
  signal(frozen, 'SIGKILL');
  await round1;
  await worksAgain(t, cluster, client, 'round1');

  // Round 2: the active master killed, and ZooKeeper killed while the supervisor restarts it.
  const zooKeeper = await zooKeeperPids(cluster);
  const { processId } = await activeMaster(cluster, client);
  const oldPid = await cluster.kill(processId);
  const round2 = callsUnderFault(t, client, 'round2', readable, /master|ZooKeeper/);
  await waitFor(`${processId} to be restarted`, async () => (await cluster.process(processId)).pid !== oldPid, 10_000);
  signal(zooKeeper, 'SIGKILL');
  await round2;
  await worksAgain(t, cluster, client, 'round2');
  t.is(sha256(await client.read('/zk/before')), sha256(before), 'the file written before the faults is intact');
});
