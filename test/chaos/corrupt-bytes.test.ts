import test from 'ava';
import { ChaosWorkload, chaosCluster, flipByte, pickReplicaFile, settle, sleep, startChaos } from '../helpers/chaos.js';

const REPLICATION = 3;

// Disks and cables flip bits (GFS 5.2). Flip a byte in chunk files on disk,
// one replica of a chunk at a time, while readers run: a read must never
// return the flipped byte (checksums, then another replica), and once the
// flips stop the corrupt replicas must be found (by reads and by the
// scrubber), dropped, and copied afresh from a good one.
test('bytes flipped in chunk files on disk while readers run: no read returns them, and every corrupt replica is replaced', async (t) => {
  const run = startChaos(t, { rounds: 24, budgetMs: 60_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: 5, masters: 1, replication: REPLICATION, chunkSize: 256 * 1024 });
  // Fewer, paced writes: the scrubber (one chunk per 200 ms per server) must get round every chunk while settling.
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), { root: '/chaos', writers: 2, readers: 2, maxWritesPerWriter: 60 });
  const schedule = run.rng.fork('faults');
  /** chunk id → the one server whose copy of it we corrupt: the others stay good, so the chunk can always be recovered. */
  const victims = new Map<string, string>();
  await workload.acksAfter(0, 20);

  let targetedReads = 0;
  await run.eachRound(async (round) => {
    await sleep(schedule.int(200, 2000));
    // Sorted before choosing (the master lists replicas shuffled), so that a seed picks the same targets again.
    const files = [...workload.live()].sort((a, b) => a.path.localeCompare(b.path));
    const file = files[Math.floor(schedule.next() * files.length)]!;
    const stat = await client.stat(file.path);
    const chunk = schedule.pick(stat.chunks);
    const length = Math.min(stat.chunkSize, file.size - chunk.index * stat.chunkSize);
    // One bad copy per chunk at most: once a server's copy of it was damaged, only that server's is damaged again.
    const replicaIds = chunk.replicas.map((r) => r.id);
    const only = victims.get(chunk.chunkId);
    const target = await pickReplicaFile(cluster, schedule, chunk.chunkId, only ? replicaIds.filter((id) => id === only) : replicaIds);
    const offset = schedule.int(0, length - 1);
    const mask = 1 << schedule.int(0, 7);
    if (!target) return t.log(`round ${round}: no replica of ${chunk.chunkId} to damage right now`);
    try {
      const { before, after } = await flipByte(target.path, offset, mask);
      victims.set(chunk.chunkId, target.serverId);
      run.faults.record('flip', target.name, `${target.serverId}: ${file.path} #${chunk.index} chunk ${chunk.chunkId} byte ${offset}: ${before} → ${after}`);
    } catch (err) {
      // The copy was dropped (found corrupt earlier) or moved meanwhile.
      return t.log(`round ${round}: ${chunk.chunkId} on ${target.name}: ${(err as Error).message}`);
    }
    // Half the time, read the damaged file at once, several times (replicas are tried in random order).
    if (schedule.chance(0.5)) {
      for (let i = 0; i < 3; i++, targetedReads++) await workload.checkRead(client, file);
    }
  });
  t.log(`${victims.size} chunks had one replica corrupted; ${targetedReads} reads aimed at them at once`);

  await settle(run, cluster, client, workload, { root: '/chaos', replication: REPLICATION, healTimeoutMs: 150_000 });
});
