import test from 'ava';
import { clusterFor } from '../helpers/cluster.js';
import { ChaosWorkload, closingNote, killNow, settle, sleep, startChaos, waitChunkserversLive, waitRestarted } from '../helpers/chaos.js';

const CHUNKSERVERS = 5;
const REPLICATION = 3;

// Two of three replicas of a chunk may die at once (GFS keeps 3 so that two
// failures lose nothing): kill -9 two chunkservers together, over and over,
// with writers and readers running. The supervisor restarts them on their
// own disks; stale copies must be fenced off, and no byte acknowledged lost.
test('kill -9 of two chunkservers at once, repeatedly, under writes and reads: no acknowledged byte lost or wrong', async (t) => {
  const run = startChaos(t, { rounds: 6, budgetMs: 120_000 });
  const { cluster, client } = await clusterFor(t, { chunkservers: CHUNKSERVERS, masters: 1, replication: REPLICATION, chunkSize: 256 * 1024, heartbeatMs: 300 });
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), { root: '/chaos' });
  const schedule = run.rng.fork('faults');
  const ids = [...(await cluster.roleIds('chunkserver')).keys()].sort();
  await workload.acksAfter(0, 5);

  await run.eachRound(async (round) => {
    await sleep(schedule.int(500, 4000));
    const killed = await killNow(cluster, schedule.sample(ids, 2), run.faults);
    const killedAt = Date.now();
    await waitRestarted(cluster, killed);
    // Both back and reporting before the next round: never three holders of one chunk down at once.
    await waitChunkserversLive(client, CHUNKSERVERS, 60_000);
    const ack = await workload.acksAfter(killedAt);
    t.log(`round ${round}: ${[...killed.keys()].join(' + ')} killed; next write acknowledged ${ack - killedAt} ms later; all ${CHUNKSERVERS} back ${Date.now() - killedAt} ms later`);
  });

  const result = await settle(run, client, workload, { root: '/chaos', replication: REPLICATION });
  closingNote(run, workload, result);
});
