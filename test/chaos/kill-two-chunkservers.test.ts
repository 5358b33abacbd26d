import test from 'ava';
import { ChaosWorkload, chaosCluster, killNow, probeWrite, settle, sleep, startChaos, waitChunkserversLive, waitRestarted } from '../helpers/chaos.js';

const CHUNKSERVERS = 5;
const REPLICATION = 3;

// Two of three replicas of a chunk may die at once (GFS keeps three so that
// two failures lose nothing): kill -9 two chunkservers together, over and
// over, with writers and readers running. The supervisor restarts them on
// their own disks; the copies they missed writes to must be fenced off.
test('kill -9 of two chunkservers at once, repeatedly, under writes and reads: no acknowledged byte lost or wrong', async (t) => {
  const run = startChaos(t, { rounds: 6, budgetMs: 120_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: CHUNKSERVERS, masters: 1, replication: REPLICATION, chunkSize: 256 * 1024 });
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), { root: '/chaos' });
  const schedule = run.rng.fork('faults');
  const ids = [...(await cluster.roleIds('chunkserver')).keys()].sort();
  await workload.acksAfter(0, 5);

  await run.eachRound(async (round) => {
    await sleep(schedule.int(500, 4000));
    const killed = await killNow(cluster, schedule.sample(ids, 2), run.faults);
    const killedAt = Date.now();
    await waitRestarted(cluster, killed);
    // Both back and beating before the next round: never all three holders of a chunk down at once.
    await waitChunkserversLive(client, CHUNKSERVERS, 60_000);
    const back = Date.now() - killedAt;
    const probe = await probeWrite(client, `/probe/round-${round}`);
    t.log(`round ${round}: ${[...killed.keys()].join(' + ')} killed; all ${CHUNKSERVERS} beating ${back} ms later; a new file then written in ${probe} ms`);
  });

  await settle(run, cluster, client, workload, { root: '/chaos', replication: REPLICATION });
});
