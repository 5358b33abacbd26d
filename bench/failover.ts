/**
 * Time from kill -9 of the active master to the first write acknowledged
 * after it, over N kills (default 10), while one client writes small files.
 * Beside it, measured in the same kills, the part ZooKeeper takes: from the
 * kill to the moment the dead master's znode goes (its session expired),
 * which is when the standby, the chunkservers and the clients hear of it.
 *   node dist/bench/failover.js [kills=10]
 */
import { TestCluster, waitFor } from '../test/helpers/cluster.js';
import { activeMaster, waitForNewActiveWithStandby, Writers } from '../test/helpers/workload.js';
import { watchMasters } from '../src/zk/election.js';
import { connectZk, DEFAULT_SESSION_TIMEOUT_MS } from '../src/zk/session.js';

const kills = Number(process.argv[2] ?? 10);
const cluster = await TestCluster.start({ masters: 2, chunkSize: 256 * 1024 });
try {
  const client = await cluster.client();
  await waitForNewActiveWithStandby(client, 'none');
  // The election as ZooKeeper reports it: when the first master changes, and to whom.
  const zk = await connectZk(cluster.zk);
  const firsts: { at: number; id: string | undefined }[] = [];
  const watch = watchMasters(zk, (masters) => firsts.push({ at: Date.now(), id: masters[0]?.id }));
  const writers = new Writers([client], '/bench-failover', 100_000, [100]);
  const recoveries: number[] = [];
  const detections: number[] = [];
  for (let i = 0; i < kills; i++) {
    await writers.nextAckAfter(Date.now());
    const before = await activeMaster(cluster, client);
    const oldPid = await cluster.kill(before.processId);
    const killedAt = Date.now();
    recoveries.push((await writers.nextAckAfter(killedAt)) - killedAt);
    await waitForNewActiveWithStandby(client, before.masterId);
    // The restarted master registers under the same id, behind the dead one's znode: the first entry changes only when that znode goes.
    const gone = await waitFor('ZooKeeper to report the dead master gone', async () => firsts.find((f) => f.at > killedAt && f.id !== before.masterId));
    detections.push(gone.at - killedAt);
    await waitFor('the killed master restarted', async () => (await cluster.process(before.processId)).pid !== oldPid);
  }
  watch.stop();
  await zk.close();
  await writers.stop();
  await client.close();
  const stats = (values: number[]) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values), all: values });
  const failover = stats(recoveries);
  const detection = stats(detections);
  console.log(
    JSON.stringify(
      {
        bench: 'failover',
        kills,
        zookeeper_session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
        kill_to_first_write_ms: failover,
        kill_to_znode_gone_ms: detection,
        median_vs_session_timeout: Math.round((failover.median / DEFAULT_SESSION_TIMEOUT_MS) * 100) / 100,
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
