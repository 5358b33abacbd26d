import test from 'ava';
import { ChaosWorkload, chaosCluster, flipByte, killNow, pickReplicaFile, probeWrite, settle, startChaos, waitChunkserversLive, waitRestarted } from '../helpers/chaos.js';

// One small round of two chaos scenarios (test/chaos/ has the long runs), so
// that `npm test` catches a regression in the fault paths. Each prints its
// seed; OFS_CHAOS_SEED=N replays it.

const REPLICATION = 3;

test.serial('chaos, one round: kill -9 of two of five chunkservers at once under writes and reads', async (t) => {
  const run = startChaos(t, { rounds: 1, budgetMs: 20_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: 5, masters: 1, replication: REPLICATION });
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), { writers: 2, readers: 1, maxWritesPerWriter: 12 });
  await workload.acksAfter(0, 3);
  const ids = [...(await cluster.roleIds('chunkserver')).keys()].sort();
  const killed = await killNow(cluster, run.rng.fork('faults').sample(ids, 2), run.faults);
  const killedAt = Date.now();
  await waitRestarted(cluster, killed);
  await waitChunkserversLive(client, 5);
  t.log(`a new file written ${await probeWrite(client, '/probe/after-kill')} ms after both were back (${Date.now() - killedAt} ms after the kill)`);
  await settle(run, cluster, client, workload, { root: '/chaos', replication: REPLICATION, healTimeoutMs: 30_000 });
});

test.serial('chaos, one round: a byte flipped in one replica of three chunks is never read back, and the replicas are replaced', async (t) => {
  const run = startChaos(t, { rounds: 1, budgetMs: 20_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: 4, masters: 1, replication: REPLICATION });
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), { writers: 1, readers: 1, maxWritesPerWriter: 6 });
  await workload.acksAfter(0, 6);
  const schedule = run.rng.fork('faults');
  const damaged = new Set<string>();
  for (const file of schedule.sample([...workload.live()].sort((a, b) => a.path.localeCompare(b.path)), 3)) {
    const stat = await client.stat(file.path);
    const chunk = schedule.pick(stat.chunks);
    if (damaged.has(chunk.chunkId)) continue;
    damaged.add(chunk.chunkId);
    const target = await pickReplicaFile(cluster, schedule, chunk.chunkId, chunk.replicas.map((r) => r.id));
    if (!target) continue;
    const length = Math.min(stat.chunkSize, file.size - chunk.index * stat.chunkSize);
    const offset = schedule.int(0, length - 1);
    const { before, after } = await flipByte(target.path, offset, 1 << schedule.int(0, 7));
    run.faults.record('flip', target.name, `${file.path} #${chunk.index} byte ${offset}: ${before} → ${after}`);
    // Replicas are tried in random order: a few reads are likely to meet the bad one.
    for (let i = 0; i < 4; i++) t.not(await workload.checkRead(client, file), 'wrong', `${file.path}; ${run.replay}`);
  }
  await settle(run, cluster, client, workload, { root: '/chaos', replication: REPLICATION, healTimeoutMs: 30_000 });
});
