import test from 'ava';
import type { ClusterProcess } from '../../src/cluster/cluster-file.js';
import type { OfsClient } from '../../src/client/ofs-client.js';
import { TestCluster } from '../helpers/cluster.js';
import { Scrape } from '../helpers/scrape.js';

let cluster: TestCluster;
let client: OfsClient;

test.before(async () => {
  cluster = await TestCluster.start({ chunkSize: 256 * 1024 });
  client = await cluster.client();
});

test.after.always(async () => {
  await client?.close();
  await cluster?.stop();
});

/** Every master and chunkserver, with the HTTP port cluster.json gives it. */
async function roles(): Promise<(ClusterProcess & { httpPort: number })[]> {
  const processes = (await cluster.file()).processes.filter((p) => p.role !== 'zookeeper');
  return processes.map((p) => {
    if (p.httpPort === undefined) throw new Error(`${p.id} has no httpPort in cluster.json`);
    return { ...p, httpPort: p.httpPort };
  });
}

test('every master and chunkserver serves /metrics on the port cluster.json names', async (t) => {
  const all = await roles();
  t.is(all.length, 5);
  t.is(new Set(all.map((p) => p.httpPort)).size, 5, 'each its own port');
  for (const p of all) {
    const scrape = await Scrape.of(p.httpPort);
    t.true(scrape.has('process_cpu_user_seconds_total'), `${p.id}: process metrics`);
  }
});
