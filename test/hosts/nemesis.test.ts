import test from 'ava';
import { Prng, sleep } from '../helpers/chaos.js';
import { hostsCluster, partitionUnderLoad, seedOr } from '../helpers/hosts/hosts-test.js';

/*
 * A seeded nemesis: rounds of random partitions and heals between hosts,
 * under the SharedNamesWorkload. OFS_CHAOS_SEED=N replays the choices of
 * hosts and durations (not the timing of the workload against them).
 */

const ROUNDS = 4;

test('random partitions and heals between hosts (seeded nemesis): the history holds and the cluster recovers by itself', async (t) => {
  const seed = seedOr(7);
  const rng = new Prng(seed).fork('nemesis');
  const cluster = await hostsCluster(t);
  const hosts = [...cluster.network.hosts.values()];
  await partitionUnderLoad(t, cluster, { seed }, async () => {
    const cutAt = Date.now();
    for (let round = 0; round < ROUNDS; round++) {
      const victim = rng.pick(hosts.filter((h) => !cluster.clientHosts.includes(h)));
      const others = rng.sample(hosts.filter((h) => h !== victim), rng.int(1, 3));
      const holdMs = rng.int(1_500, 4_000);
      t.log(`round ${round + 1}: ${victim.name} cut off from ${others.map((h) => h.name).join(', ')} for ${holdMs} ms`);
      await cluster.network.cut(victim, others);
      await sleep(holdMs);
      await cluster.network.heal([victim]);
      await sleep(rng.int(1_000, 3_000));
    }
    return { cutAt, healAt: Date.now() };
  });
});
