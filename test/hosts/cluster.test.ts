import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { patternBytes, sha256, waitFor } from '../helpers/cluster.js';
import { PORTS } from '../helpers/hosts/hosts-cluster.js';
import { hostsCluster } from '../helpers/hosts/hosts-test.js';

/*
 * The deployment of docs/deploy.md, on hosts made of network namespaces: a
 * 3-server ZooKeeper ensemble, 2 masters and 4 chunkservers started by hand,
 * each bound to its own host's address; then adding and retiring a chunkserver.
 */

test('every role listens on its own host address only, registers that address, and serves /metrics there to a client host', async (t) => {
  const cluster = await hostsCluster(t);
  const status = await cluster.status();
  const advertised = [status.master.address, ...status.standby.map((s) => s.address), ...status.chunkservers.map((c) => c.address)].sort();
  const expected = [...cluster.masterHosts, ...cluster.chunkserverHosts].map((h) => `tcp://${h.address}:${PORTS.rpc}`).sort();
  t.deepEqual(advertised, expected, 'each master and chunkserver registered its host address');

  for (const host of [...cluster.zkHosts, ...cluster.masterHosts, ...cluster.chunkserverHosts]) {
    const sockets = await cluster.listening(host);
    t.true(sockets.length > 0, `${host.name} listens`);
    // Java listens on IPv6 sockets: its IPv4 address shows as [::ffff:ADDR].
    const elsewhere = sockets.filter((s) => !s.startsWith(`${host.address}:`) && !s.startsWith(`[::ffff:${host.address}]:`));
    t.deepEqual(elsewhere, [], `${host.name} listens only on ${host.address}: ${sockets.join(' ')}`);
  }
  const fetchScript = (url: string) => `fetch(${JSON.stringify(url)}).then(async (r) => process.stdout.write(r.status + ' ' + (await r.text())))`;
  for (const host of [...cluster.masterHosts, ...cluster.chunkserverHosts]) {
    const answer = await cluster.run(cluster.clientHosts[0]!, [process.execPath, '-e', fetchScript(`http://${host.address}:${PORTS.http}/metrics`)]);
    t.regex(answer, /^200 [\s\S]*ofs_rpc/, `/metrics of ${host.name} from the client host`);
  }
});

test('a chunkserver added on a new host registers and reports; one retired (stopped) has its chunks copied elsewhere, the new one among them, and every file reads back', async (t) => {
  const cluster = await hostsCluster(t);
  const files = [0, 1, 2, 3, 4, 5].map((i) => ({ path: `/deploy/f${i}`, data: patternBytes(300_000 + i, i + 1) }));
  for (const file of files) {
    const local = join(cluster.dir, 'upload');
    await writeFile(local, file.data);
    await cluster.ofs(['put', local, file.path]);
  }
  const added = await cluster.addChunkserver('cs5');
  await waitFor('cs5 to report', async () => (await cluster.status()).chunkservers.length === 5, 60_000);

  // Retire cs1: stop it (its znode goes at once), wait until every chunk has its replicas again.
  const retired = cluster.chunkserverHosts[0]!;
  await cluster.process(retired.name).stop();
  await waitFor('full replication without cs1', async () => {
    const status = await cluster.status();
    return status.chunkservers.length === 4 && status.underReplicated === 0;
  }, 90_000);
  const { summary } = JSON.parse(await cluster.ofs(['fsck', '--json'])) as { summary: { chunks: number; healthy: number } };
  t.is(summary.healthy, summary.chunks, 'fsck: every chunk healthy');
  const newcomer = (await cluster.status()).chunkservers.find((c) => c.address === `tcp://${added.address}:${PORTS.rpc}`);
  t.true((newcomer?.chunkCount ?? 0) > 0, 'the new chunkserver took copies of the retired one\'s chunks');
  for (const file of files) {
    const local = join(cluster.dir, 'download');
    await cluster.ofs(['get', file.path, local]);
    t.is(sha256(await readFile(local)), sha256(file.data), `${file.path} reads back`);
  }
});
