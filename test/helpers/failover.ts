import type { ExecutionContext } from 'ava';
import { TestCluster, waitFor } from './cluster.js';
import { activeMaster, verifyAcknowledged, waitForNewActiveWithStandby, Writers } from './workload.js';

/**
 * With several clients writing, kill -9 the active master `rounds` times.
 * Every write must be acknowledged, and every acknowledged one survive; returns the time from each kill to
 * the first write acknowledged after it.
 */
export async function killActiveMasterRounds(t: ExecutionContext, rounds: number): Promise<number[]> {
  const cluster = await TestCluster.start({ masters: 2, chunkSize: 256 * 1024 });
  t.teardown(() => cluster.stop());
  const clients = await Promise.all([0, 1, 2].map(() => cluster.client()));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const [observer] = clients;
  await waitForNewActiveWithStandby(observer!, 'none');
  const writers = new Writers(clients, '/failover');
  const recoveries: number[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      await writers.nextAckAfter(Date.now());
      const before = await activeMaster(cluster, observer!);
      const oldPid = await cluster.kill(before.processId);
      const killedAt = Date.now();
      const firstAck = await writers.nextAckAfter(killedAt);
      recoveries.push(firstAck - killedAt);
      // The standby took over, and the supervisor's replacement became the new standby.
      await waitForNewActiveWithStandby(observer!, before.masterId);
      await waitFor('the killed master to be restarted', async () => (await cluster.process(before.processId)).pid !== oldPid);
      const after = await activeMaster(cluster, observer!);
      t.true(after.epoch > before.epoch, `round ${round}: epoch went from ${before.epoch} to ${after.epoch}`);
      t.log(`round ${round}: ${before.processId} killed; first write acknowledged ${firstAck - killedAt} ms later; ${after.processId} active at epoch ${after.epoch}`);
    }
  } finally {
    await writers.stop();
  }
  t.log(`${writers.acked.length} writes acknowledged`);
  t.true(writers.acked.length > rounds);
  // A failover costs a writer a delay, not an error.
  t.deepEqual(writers.failures, []);
  await verifyAcknowledged(t, observer!, writers.acked);
  return recoveries;
}
