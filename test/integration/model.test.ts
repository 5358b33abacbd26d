import test from 'ava';
import { TestCluster } from '../helpers/cluster.js';
import { checkAgainstModel } from '../helpers/model-run.js';

const seed = process.env.OFS_MODEL_SEED ? Number(process.env.OFS_MODEL_SEED) : undefined;

test('random operations from 3 concurrent clients agree with the model of docs/consistency.md', async (t) => {
  const cluster = await TestCluster.start({ chunkSize: 64 * 1024 });
  t.teardown(() => cluster.stop());
  const clients = await Promise.all([0, 1, 2].map(() => cluster.client()));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const operations = await checkAgainstModel(t, clients, { runs: 8, rounds: 120, seed, timeLimitMs: 120_000 });
  t.true(operations >= 1000, `only ${operations} operations ran`);
});
