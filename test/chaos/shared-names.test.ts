import test from 'ava';
import { DEFAULT_SESSION_TIMEOUT_MS } from '../../src/zk/session.js';
import { chaosCluster, killNow, noteProblem, Pauses, sleep, startChaos, waitForMasters } from '../helpers/chaos.js';
import { SharedNamesWorkload } from '../helpers/shared-names.js';
import { activeMaster } from '../helpers/workload.js';

const LEASE_MS = 3_000;
/** Long pauses outlast the ZooKeeper session and the leases; short ones do not. */
const OUTLASTED_MS = Math.max(DEFAULT_SESSION_TIMEOUT_MS, LEASE_MS);
const CLIENTS = 6;

// Clients race on the same names (create, replace, rename, delete, read,
// list, append) while the active master is killed or paused and chunkservers
// are killed or paused. Every call is recorded, and the history checker
// decides whether the namespace and whole-file contents were linearizable
// as docs/consistency.md promises, and whether every acknowledged append is
// where it was acknowledged. OFS_CHAOS_SEED=N replays the choices.
test('6 clients on shared names through master kills and pauses and chunkserver kills and pauses: the history is linearizable, every acknowledged append where it was acknowledged', async (t) => {
  const run = startChaos(t, { rounds: 16, budgetMs: 150_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: 5, masters: 2, replication: 3, leaseMs: LEASE_MS });
  const problems: string[] = [];
  noteProblem(t, problems, await waitForMasters(client, 0));
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => cluster.client()));
  t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => undefined))));
  const workload = await SharedNamesWorkload.start(t, clients, run.rng.fork('workload'), { root: '/shared', groups: 8, logs: 3, pauseMs: [0, 40] });
  const pauses = new Pauses(t, cluster, run.faults);
  const schedule = run.rng.fork('faults');
  const chunkservers = [...(await cluster.roleIds('chunkserver')).keys()].sort();

  await run.eachRound(async (round) => {
    await sleep(schedule.int(1_000, 3_000));
    const fault = schedule.pick(['kill the master', 'pause the master', 'kill a chunkserver', 'pause a chunkserver'] as const);
    const pauseMs = schedule.chance(0.5) ? schedule.int(300, 1_500) : schedule.int(OUTLASTED_MS + 500, OUTLASTED_MS + 3_000);
    const target = schedule.pick(chunkservers);
    if (fault === 'kill a chunkserver') await killNow(cluster, [target], run.faults);
    if (fault === 'pause a chunkserver') await pauses.pause(target, pauseMs);
    if (fault === 'kill the master' || fault === 'pause the master') {
      const before = await activeMaster(cluster, client);
      if (fault === 'kill the master') await killNow(cluster, [before.processId], run.faults);
      else await pauses.pause(before.processId, pauseMs, 'the active master');
      // A short pause may leave the same master active; either way one is active, with a standby, before the next fault.
      noteProblem(t, problems, await waitForMasters(client, fault === 'kill the master' ? before.epoch : 0, 60_000));
    }
    t.log(`round ${round}: ${fault}; ${workload.counts().recorded} operations so far`);
  });

  await workload.stop();
  problems.push(...(await workload.check(t, client, run.seed)));
  const { answered, recorded, appends } = workload.counts();
  t.log(`${run.faults.count} faults injected (${run.faults.summary()}); ${recorded} operations recorded (${answered} with a definite answer), ${appends} appends, in ${run.elapsed()}`);
  t.true(answered >= 1_000, `only ${answered} operations had a definite answer: too few to check`);
  t.deepEqual(problems, [], run.replay);
});
