import test from 'ava';
import { REPORT_PART_CHUNKS } from '../../src/transport/protocol.js';
import { TestCluster } from '../helpers/cluster.js';
import { activeMaster, waitForNewActiveWithStandby } from '../helpers/workload.js';

// A chunkserver holding more chunks than one message can list: its chunk
// reports (to a master that takes over, and every 30th heartbeat) go in parts,
// and the new master knows every replica; its files read back.

/** Past what one message could list (1 MiB at ~61 bytes a replica: ~17,000), and three parts of a report. */
const FILES = 2 * REPORT_PART_CHUNKS + 1_500;
const WRITERS = 64;
const contentOf = (i: number) => `file ${i} of the many-chunks run\n`.repeat(3);

test(`kill -9 of the active master over chunkservers of ${FILES} chunks each: the new master hears every replica, and the files read back`, async (t) => {
  const cluster = await TestCluster.start({});
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());

  let next = 0;
  await Promise.all(Array.from({ length: WRITERS }, async () => {
    for (let i = next++; i < FILES; i = next++) await client.write(`/many/f${i}`, contentOf(i));
  }));
  const before = await client.status();
  t.true(before.chunkservers.every((cs) => cs.chunkCount > REPORT_PART_CHUNKS), `chunks per server: ${before.chunkservers.map((cs) => cs.chunkCount)}`);

  const old = await activeMaster(cluster, client);
  await cluster.kill(old.processId);
  await waitForNewActiveWithStandby(client, old.masterId);
  const now = await activeMaster(cluster, client);
  // Every replica, from the takeover's reports: no report failed (one message of all would pass the 1 MiB limit).
  t.is(await cluster.logLines(now.processId, /no chunk report/), 0);
  const sample = Array.from({ length: FILES }, (_, i) => i).filter((i) => i % 17 === 0 || i >= FILES - 100);
  for (const i of sample) {
    const stat = await client.stat(`/many/f${i}`);
    t.is(stat.chunks[0]?.replicas.length, 3, `f${i}: ${JSON.stringify(stat.chunks[0]?.replicas)}`);
    t.is((await client.read(`/many/f${i}`)).toString(), contentOf(i));
  }
  // The chunkservers' own full reports (every 30th heartbeat: 9 s at the test cluster's 300 ms) reach the new master too, in parts.
  await new Promise((resolve) => setTimeout(resolve, 12_000));
  for (const id of (await cluster.roleIds('chunkserver')).keys()) t.is(await cluster.logLines(id, /chunk report not delivered/), 0, id);
});
