import test from 'ava';
import { chaosCluster, killNow, noteProblem, sleep, startChaos, waitForMasters } from '../helpers/chaos.js';
import { SharedNamesWorkload } from '../helpers/shared-names.js';
import { activeMaster } from '../helpers/workload.js';

// The short form of test/chaos/shared-names.test.ts: a few seconds of
// clients racing on the same names, one kill -9 of the active master and one
// of a chunkserver, then the history checker. OFS_CHAOS_SEED=N replays the
// choices (not the timing).

test.serial('4 clients on shared names through a master kill and a chunkserver kill: the history is linearizable, every acknowledged append where it was acknowledged', async (t) => {
  const run = startChaos(t, { rounds: 1, budgetMs: 20_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: 4, masters: 2, replication: 3 });
  const problems: string[] = [];
  noteProblem(t, problems, await waitForMasters(client, 0));
  const clients = await Promise.all([0, 1, 2, 3].map(() => cluster.client()));
  t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => undefined))));
  const workload = await SharedNamesWorkload.start(t, clients, run.rng.fork('workload'), { root: '/shared', groups: 4, logs: 2, pauseMs: [0, 20] });
  const schedule = run.rng.fork('faults');

  await sleep(2_500);
  const { processId, epoch } = await activeMaster(cluster, client);
  await killNow(cluster, [processId], run.faults);
  noteProblem(t, problems, await waitForMasters(client, epoch, 30_000));
  await killNow(cluster, [schedule.pick([...(await cluster.roleIds('chunkserver')).keys()].sort())], run.faults);
  await sleep(2_500);
  await workload.stop();

  problems.push(...(await workload.check(t, client, run.seed)));
  const { answered, recorded, appends } = workload.counts();
  t.log(`${run.faults.count} faults injected (${run.faults.summary()}); ${recorded} operations recorded (${answered} answered), ${appends} appends, in ${run.elapsed()}`);
  t.true(answered >= 100, `only ${answered} operations were answered: too few to check`);
  t.deepEqual(problems, [], run.replay);
});
