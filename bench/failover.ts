/**
 * Time from kill -9 of the active master to the first write acknowledged
 * after it, over N kills (default 10), while one client writes small files.
 *   node dist/bench/failover.js [kills=10]
 */
import { TestCluster, waitFor } from '../test/helpers/cluster.js';
import { activeMaster, waitForNewActiveWithStandby, Writers } from '../test/helpers/workload.js';

const kills = Number(process.argv[2] ?? 10);
const cluster = await TestCluster.start({ masters: 2, chunkSize: 256 * 1024 });
try {
  const client = await cluster.client();
  await waitForNewActiveWithStandby(client, 'none');
  const writers = new Writers([client], '/bench-failover', 100_000, [100]);
  const recoveries: number[] = [];
  for (let i = 0; i < kills; i++) {
    await writers.nextAckAfter(Date.now());
    const before = await activeMaster(cluster, client);
    const oldPid = await cluster.kill(before.processId);
    const killedAt = Date.now();
    recoveries.push((await writers.nextAckAfter(killedAt)) - killedAt);
    await waitForNewActiveWithStandby(client, before.masterId);
    await waitFor('the killed master restarted', async () => (await cluster.process(before.processId)).pid !== oldPid);
  }
  await writers.stop();
  await client.close();
  const sorted = [...recoveries].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  console.log(
    JSON.stringify(
      {
        bench: 'failover',
        kills,
        zookeeper_session_timeout_ms: 4000,
        kill_to_first_write_ms: { median, min: sorted[0], max: sorted.at(-1), all: recoveries },
        median_vs_session_timeout: Math.round((median / 4000) * 100) / 100,
        writes_acknowledged: writers.acked.length,
        writes_failed: writers.failures.length,
      },
      null,
      2,
    ),
  );
} finally {
  await cluster.stop();
}
