/**
 * Metadata mutation rate: empty-file creates per second (create + complete,
 * each journaled with group commit and, with a standby, acknowledged by it
 * too) from C concurrent clients. The baseline, in the same run, is the same
 * load on a cluster with no standby.
 *   node dist/bench/metadata.js [files=3000] [clients=8]
 */
import { TestCluster } from '../test/helpers/cluster.js';
import { waitForNewActiveWithStandby } from '../test/helpers/workload.js';

const files = Number(process.argv[2] ?? 3000);
const clientCount = Number(process.argv[3] ?? 8);

async function createsPerSecond(masters: number): Promise<number> {
  const cluster = await TestCluster.start({ masters, chunkServers: undefined } as never);
  try {
    const clients = await Promise.all(Array.from({ length: clientCount }, () => cluster.client()));
    if (masters > 1) await waitForNewActiveWithStandby(clients[0]!, 'none');
    const perClient = Math.ceil(files / clientCount);
    const started = process.hrtime.bigint();
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < perClient; i++) await client.write(`/meta/c${c}/f${i}`, '');
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await Promise.all(clients.map((c) => c.close()));
    return (perClient * clientCount) / seconds;
  } finally {
    await cluster.stop();
  }
}

const withStandby = await createsPerSecond(2);
const activeOnly = await createsPerSecond(1);
console.log(
  JSON.stringify(
    {
      bench: 'metadata',
      files,
      clients: clientCount,
      creates_per_s_durable_on_both_masters: Math.round(withStandby),
      creates_per_s_active_only: Math.round(activeOnly),
      mutations_per_create: 2,
      standby_vs_active_only: Math.round((withStandby / activeOnly) * 100) / 100,
    },
    null,
    2,
  ),
);
