import test from 'ava';
import { assertSupervisorAlive, ChaosWorkload, chaosCluster, killNow, livePidOf, noteProblem, probeWrite, settle, sleep, startChaos, waitForMasters } from '../helpers/chaos.js';
import { waitFor } from '../helpers/cluster.js';

const REPLICATION = 3;

// Any process may die at any time: ZooKeeper, the active master, the standby,
// a chunkserver. kill -9 one at random every few seconds, without waiting for
// the last one to come back, with writers and readers running.
test('kill -9 of a random process (ZooKeeper, master, chunkserver) every few seconds: no acknowledged byte lost or wrong', async (t) => {
  const run = startChaos(t, { rounds: 15, budgetMs: 110_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: 5, masters: 2, replication: REPLICATION, chunkSize: 256 * 1024 });
  const problems: string[] = [];
  noteProblem(t, problems, await waitForMasters(client, 0));
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), { root: '/chaos' });
  const schedule = run.rng.fork('faults');
  const ids = (await cluster.file()).processes.map((p) => p.id).sort();
  await workload.acksAfter(0, 5);

  let skipped = 0;
  await run.eachRound(async () => {
    await sleep(schedule.int(2000, 6000));
    const id = schedule.pick(ids);
    const killed = await killNow(cluster, [id], run.faults);
    if (killed.size === 0) skipped++; // still down from an earlier round: the supervisor had not restarted it yet
    await assertSupervisorAlive(cluster, `after kill -9 of ${id}`);
  });
  if (skipped > 0) t.log(`${skipped} picks hit a process still down from an earlier kill`);

  // Liveness once the faults stop: every process back, a master active with a standby in sync, writes going again.
  const stoppedAt = Date.now();
  await waitFor('every process to be running again', async () => (await Promise.all(ids.map((id) => livePidOf(cluster, id)))).every((pid) => pid !== undefined), 60_000);
  noteProblem(t, problems, await waitForMasters(client, 0, 90_000));
  await probeWrite(client, '/probe/after-faults', 90_000);
  t.log(`after the last fault: every process back, a standby in sync and a write acknowledged ${Date.now() - stoppedAt} ms later`);

  await settle(run, cluster, client, workload, { root: '/chaos', replication: REPLICATION, violations: problems });
});
