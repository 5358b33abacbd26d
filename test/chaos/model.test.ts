import test from 'ava';
import { TestCluster } from '../helpers/cluster.js';
import { checkAgainstModel } from '../helpers/model-run.js';

const seed = process.env.OFS_MODEL_SEED ? Number(process.env.OFS_MODEL_SEED) : undefined;
const runs = Number(process.env.OFS_MODEL_RUNS ?? 40);

test(`random operations from 3 concurrent clients agree with the model (${runs} runs)`, async (t) => {
  const cluster = await TestCluster.start({ chunkSize: 64 * 1024 });
  t.teardown(() => cluster.stop());
  const clients = await Promise.all([0, 1, 2].map(() => cluster.client()));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const operations = await checkAgainstModel(t, clients, { runs, rounds: 200, seed, timeLimitMs: 600_000 });
  // Every run has at least 100 rounds of one operation per client.
  t.true(operations >= runs * 100 * clients.length, `only ${operations} operations ran in ${runs} runs`);
});
