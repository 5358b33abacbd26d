import test from 'ava';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterProcess } from '../../src/cluster/cluster-file.js';
import type { OfsClient } from '../../src/client/ofs-client.js';
import { patternBytes, sha256, TestCluster, waitFor } from '../helpers/cluster.js';
import { Scrape } from '../helpers/scrape.js';
import { waitForNewActiveWithStandby } from '../helpers/workload.js';

const CHUNK = 256 * 1024;
let cluster: TestCluster;
let client: OfsClient;

// Four chunkservers, so that a replaced replica has somewhere to go; the scrubber off, so that only reads find corruption.
test.before(async () => {
  cluster = await TestCluster.start({ chunkSize: CHUNK, chunkservers: 4, scrubIntervalMs: 0 });
  client = await cluster.client();
  // Until the standby is in sync, events are acknowledged without it, and its standby.append count may not move.
  await waitForNewActiveWithStandby(client, 'none');
});

test.after.always(async () => {
  await client?.close();
  await cluster?.stop();
});

type Role = ClusterProcess & { httpPort: number; roleId: string };

/** Every master and chunkserver: the HTTP port cluster.json gives it, and the id it registers under. */
async function roles(): Promise<Role[]> {
  const ids = new Map([...(await cluster.roleIds('master')), ...(await cluster.roleIds('chunkserver'))]);
  return (await cluster.file()).processes
    .filter((p) => p.role !== 'zookeeper')
    .map((p) => {
      if (p.httpPort === undefined) throw new Error(`${p.id} has no httpPort in cluster.json`);
      return { ...p, httpPort: p.httpPort, roleId: ids.get(p.id)! };
    });
}

/** One scrape of every role, by cluster.json id. */
async function scrapeAll(all: Role[]): Promise<Map<string, Scrape>> {
  return new Map(await Promise.all(all.map(async (p) => [p.id, await Scrape.of(p.httpPort)] as const)));
}

const sumOver = (scrapes: Scrape[], name: string, labels?: Record<string, string>) => scrapes.reduce((sum, s) => sum + s.sum(name, labels), 0);
const requests = (s: Scrape, type: string) => s.sum('ofs_rpc_request_duration_seconds_count', { type, outcome: 'ok' });

test('every master and chunkserver serves /metrics, and the numbers move with the work done', async (t) => {
  const all = await roles();
  t.is(all.length, 6);
  t.is(new Set(all.map((p) => p.httpPort)).size, 6, 'each its own port');
  const masters = all.filter((p) => p.role === 'master');
  const chunkservers = all.filter((p) => p.role === 'chunkserver');
  const before = await scrapeAll(all);
  for (const p of all) t.true(before.get(p.id)!.has('process_cpu_user_seconds_total'), `${p.id}: process metrics`);
  const [active, standby] = [...masters].sort((a, b) => before.get(b.id)!.sum('ofs_master_active') - before.get(a.id)!.sum('ofs_master_active'));
  t.is(before.get(active!.id)!.sum('ofs_master_active'), 1);
  t.is(before.get(standby!.id)!.sum('ofs_master_active'), 0);

  // Work: a file of 5 chunks and a bit written (over 64 KiB a mutation: pushed), read back, and records appended.
  const data = patternBytes(5 * CHUNK + 1000, 15);
  await client.write('/metrics/file', data);
  t.is(sha256(await client.read('/metrics/file')), sha256(data));
  const record = patternBytes(1000, 16);
  for (let i = 0; i < 5; i++) await client.append('/metrics/log', record);
  const after = await scrapeAll(all);
  const [a0, a1, s0, s1] = [before.get(active!.id)!, after.get(active!.id)!, before.get(standby!.id)!, after.get(standby!.id)!];

  // The active master: requests by type, leases (one per chunk written at least), its journal's group commits.
  t.true(requests(a1, 'master.create') > requests(a0, 'master.create'), 'master.create requests counted');
  t.true(requests(a1, 'master.lease') >= requests(a0, 'master.lease') + 5, 'master.lease requests counted');
  t.true(a1.sum('ofs_lease_grants_total') >= a0.sum('ofs_lease_grants_total') + 7, 'a lease for each of 6 chunks written and the log');
  t.true(a1.sum('ofs_journal_sync_seconds_count') > a0.sum('ofs_journal_sync_seconds_count'), 'journal fdatasyncs on the active master');
  t.true(a1.sum('ofs_journal_group_commit_records_sum') >= a0.sum('ofs_journal_group_commit_records_sum') + 7, 'records group-committed');
  t.true(a1.has('ofs_rereplication_backlog_chunks'));
  t.true(a1.has('ofs_standby_lag_events', { standby: standby!.roleId }), "the standby's lag, by its id");
  // The standby journals every event too, each streamed to it as a standby.append.
  t.true(requests(s1, 'standby.append') > requests(s0, 'standby.append'), 'standby.append requests counted on the standby');
  t.true(s1.sum('ofs_journal_sync_seconds_count') > s0.sum('ofs_journal_sync_seconds_count'), 'journal fdatasyncs on the standby');

  // The chunkservers: every byte written lands on 3 replicas, every byte read was read on one.
  const [c0, c1] = [chunkservers.map((p) => before.get(p.id)!), chunkservers.map((p) => after.get(p.id)!)];
  const delta = (name: string, labels?: Record<string, string>) => sumOver(c1, name, labels) - sumOver(c0, name, labels);
  t.true(delta('ofs_chunk_written_bytes_total') >= 3 * (data.length + 5 * record.length), 'bytes written, 3 replicas');
  t.true(delta('ofs_chunk_read_bytes_total') >= data.length, 'bytes read');
  t.true(delta('ofs_rpc_request_duration_seconds_count', { type: 'chunk.commit', outcome: 'ok' }) >= 6, 'chunk.commit requests counted');
  t.true(delta('ofs_rpc_request_duration_seconds_count', { type: 'chunk.push', outcome: 'ok' }) >= 5, 'chunk.push requests counted');
  t.true(delta('ofs_rpc_request_duration_seconds_count', { type: 'chunk.read', outcome: 'ok' }) >= 6, 'chunk.read requests counted');
  t.true(delta('ofs_chunk_sync_seconds_count') >= 3 * 6, 'chunk syncs');
  t.true(delta('ofs_chunkserver_chunks') >= 3 * 7, 'chunks stored');
  t.true(delta('ofs_chunkserver_used_bytes') >= 3 * (data.length + 5 * record.length), 'bytes stored');
  for (const s of c1) t.true(s.has('ofs_push_buffer_bytes'));
});

test('a corrupt block counts as a CRC failure where it is read, and its replacement as a copy on the active master', async (t) => {
  const all = await roles();
  const data = patternBytes(CHUNK, 17);
  await client.write('/metrics/corrupt', data);
  const [chunk] = (await client.stat('/metrics/corrupt')).chunks;
  const victim = chunk!.replicas[0]!;
  const victimRole = all.find((p) => p.roleId === victim.id)!;
  const active = await waitFor('the active master', async () => {
    for (const p of all.filter((r) => r.role === 'master')) if ((await Scrape.of(p.httpPort)).sum('ofs_master_active') === 1) return p;
    return undefined;
  });
  const before = { victim: await Scrape.of(victimRole.httpPort), active: await Scrape.of(active.httpPort) };

  const file = await open(join(victimRole.dir, 'chunks', `${chunk!.chunkId}.data`), 'r+');
  await file.write(Buffer.from([data[5]! ^ 0xff]), 0, 1, 5);
  await file.close();
  const rpc = await cluster.rpc('metrics-test');
  t.teardown(() => rpc.close());
  const token = await cluster.token(chunk!.chunkId, chunk!.version, 'read');
  await t.throwsAsync(rpc.call(victim.address, 'chunk.read', { chunkId: chunk!.chunkId, version: chunk!.version, offset: 0, length: CHUNK, token }), { code: 'ECORRUPT' });

  const victimAfter = await Scrape.of(victimRole.httpPort);
  t.is(victimAfter.sum('ofs_crc_failures_total', { check: 'read' }), before.victim.sum('ofs_crc_failures_total', { check: 'read' }) + 1);
  t.true(
    victimAfter.sum('ofs_rpc_request_duration_seconds_count', { type: 'chunk.read', outcome: 'error' }) >
      before.victim.sum('ofs_rpc_request_duration_seconds_count', { type: 'chunk.read', outcome: 'error' }),
    'the refused read counted as an error',
  );
  // Reported, the bad replica is replaced by a copy from a good one.
  const copied = await waitFor('the corrupt replica to be copied anew', async () => {
    const now = await Scrape.of(active.httpPort);
    return now.sum('ofs_rereplication_copies_total') > before.active.sum('ofs_rereplication_copies_total') && now;
  }, 60_000);
  t.true(copied.sum('ofs_rereplication_copied_bytes_total') >= before.active.sum('ofs_rereplication_copied_bytes_total') + CHUNK);
});
