import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { FileStat } from '../../src/client/ofs-client.js';
import type { OfsError } from '../../src/core/errors.js';
import { clusterFor, patternBytes, TestCluster, waitFor } from '../helpers/cluster.js';
import { decodeRecordAt, encodeRecord, scanRecords } from '../helpers/records.js';

const WRITERS = 8;
const RECORDS = Number(process.env.OFS_APPEND_RECORDS ?? 1000);

test(`${WRITERS} clients appending ${RECORDS} records each to one file: every record whole, none torn or interleaved`, async (t) => {
  await appendAndCheck(t, 1);
});

test(`${WRITERS} clients with 32 appends in flight each: records go in batches, each still whole at its own offset`, async (t) => {
  const clients = await appendAndCheck(t, 32);
  const records = clients.reduce((sum, c) => sum + c.stats().recordsAppended, 0);
  const batches = clients.reduce((sum, c) => sum + c.stats().appendBatches, 0);
  t.is(records, WRITERS * RECORDS);
  t.true(batches < records / 4, `${records} records went in ${batches} batches: appends in flight should ride together`);
});

/** Each of WRITERS clients appends RECORDS records to /log with `inFlight` appends under way at once, then checks the file. */
async function appendAndCheck(t: ExecutionContext, inFlight: number) {
  const cluster = await TestCluster.start({ chunkSize: 256 * 1024 });
  t.teardown(() => cluster.stop());
  const clients = await Promise.all(Array.from({ length: WRITERS }, () => cluster.client()));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));

  const acknowledged: { writer: number; seq: number; offset: number; size: number }[] = [];
  await Promise.all(
    clients.flatMap((client, writer) =>
      Array.from({ length: inFlight }, async (_, lane) => {
        for (let seq = lane; seq < RECORDS; seq += inFlight) {
          // Sizes vary so that records often do not fit what is left of a chunk.
          const record = encodeRecord(writer, seq, patternBytes(20 + ((seq * 7919 + writer * 104729) % 3000), writer * 1e6 + seq));
          const offset = await client.append('/log', record);
          acknowledged.push({ writer, seq, offset, size: record.length });
        }
      }),
    ),
  );

  // The master was never told a size: it learns it from the primaries' heartbeats (every 300 ms
  // here), well before the next full chunk report could tell it (every 30 heartbeats, 9 s).
  const last = Math.max(...acknowledged.map((a) => a.offset + a.size));
  await waitFor('the master to learn the appended size', async () => (await clients[0]!.stat('/log')).size >= last, 2_000);

  const data = await clients[0]!.read('/log');
  // Every acknowledged record is whole at the offset the primary returned...
  const broken = acknowledged.filter((a) => {
    const found = decodeRecordAt(data, a.offset);
    return !found || found.writer !== a.writer || found.seq !== a.seq || found.length !== a.size;
  });
  t.deepEqual(broken.slice(0, 5), [], `${broken.length} acknowledged records are not whole at their offset`);
  // ...no record straddles a chunk boundary...
  const chunkSize = 256 * 1024;
  t.deepEqual(
    acknowledged.filter((a) => Math.floor(a.offset / chunkSize) !== Math.floor((a.offset + a.size - 1) / chunkSize)),
    [],
  );
  // ...and a scan of the file (as a reader would do) finds each one; a record appears twice only if a retry happened.
  const found = scanRecords(data);
  const copies = new Map<string, number>();
  for (const r of found) copies.set(`${r.writer}/${r.seq}`, (copies.get(`${r.writer}/${r.seq}`) ?? 0) + 1);
  t.is(copies.size, WRITERS * RECORDS, 'every record is found by a scan');
  const duplicates = [...copies.values()].reduce((sum, n) => sum + n - 1, 0);
  const retries = clients.reduce((sum, c) => sum + c.stats().recordsResent, 0);
  t.true(duplicates <= retries, `${duplicates} duplicate records but only ${retries} records were sent again in retried mutations`);
  // Records never overlap one another: none was torn or interleaved with another.
  const sorted = [...found].sort((a, b) => a.offset - b.offset);
  t.true(sorted.every((r, i) => i === 0 || sorted[i - 1]!.offset + sorted[i - 1]!.length <= r.offset));
  t.log(`${acknowledged.length} appends, ${found.length} records found, ${duplicates} duplicates, ${retries} records resent, file ${data.length} bytes`);
  return clients;
}

test('appending to a file deleted since the last append makes it again, as a first append does', async (t) => {
  const cluster = await TestCluster.start({ chunkSize: 256 * 1024 });
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());
  t.is(await client.append('/rotated.log', 'first life'), 0);
  await client.delete('/rotated.log');
  t.is(await client.append('/rotated.log', 'second life'), 0);
  t.is((await client.read('/rotated.log')).toString(), 'second life');
});

test('an append that failed may still be read: its record stays where the primary put it, the next one goes after it, and the size takes it in', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: 256 * 1024, masters: 1, leaseMs: 60_000 });
  const first = encodeRecord(1, 0, patternBytes(1000, 1));
  t.is(await client.append('/failed.log', first), 0);
  const chunk = (await client.stat('/failed.log')).chunks[0]!;
  const primary = chunk.replicas.find((r) => r.id === chunk.primary)!;
  const [applied, missed] = chunk.replicas.filter((r) => r !== primary) as [ReplicaRef, ReplicaRef];

  // A writer whose bytes reached the primary and one secondary but not the other: its commit fails...
  const rpc = await cluster.rpc('test-failed-appender');
  t.teardown(() => rpc.close());
  const failed = encodeRecord(2, 0, patternBytes(100_000, 2));
  const bufferId = randomBytes(8).toString('hex');
  const token = await cluster.token(chunk.chunkId, chunk.version, 'write');
  const chain = [{ address: applied.address, curve: true }];
  await rpc.call(primary.address, 'chunk.push', { chunkId: chunk.chunkId, version: chunk.version, bufferId, chain, token }, { data: [failed] });
  const commit = { chunkId: chunk.chunkId, version: chunk.version, bufferId, mode: 'append', offset: 0, length: failed.length, token } as const;
  const failure = await t.throwsAsync<OfsError>(rpc.call(primary.address, 'chunk.commit', commit));
  t.regex(failure?.message ?? '', new RegExp(`secondary ${missed.id} .*no pushed data for chunk .* under buffer`));
  // ...so it asks for a new lease, as a client does after a failure, while the replica that missed its bytes is
  // paused: that one misses the new version too, and is stale. Then the writer gives up.
  const [missedProcess] = [...(await cluster.roleIds('chunkserver'))].find(([, id]) => id === missed.id)!;
  const master = (await client.status()).master.address;
  await cluster.kill(missedProcess, 'SIGSTOP');
  const lease = await rpc.call(master, 'master.lease', { path: '/failed.log', index: 'last', afterFailure: true }).finally(() => cluster.kill(missedProcess, 'SIGCONT'));
  t.deepEqual(lease.body.replicas.map((r) => r.id).sort(), [primary.id, applied.id].sort(), 'the new lease is on the replicas that hold the failed record');

  // The next record goes after the failed one: a primary appends at its chunk's end.
  const next = encodeRecord(1, 1, patternBytes(1000, 3));
  t.is(await client.append('/failed.log', next), first.length + failed.length);
  const end = first.length + failed.length + next.length;
  // From the primary's next heartbeat, or, if re-replication revoked its lease first, the next full chunk report (9 s here).
  await waitFor('the master to learn the appended size', async () => (await client.stat('/failed.log')).size >= end, 20_000);
  // Every replica served holds the failed record whole, and every reader finds it, framed and checksummed like the rest.
  const records = [[1, 0, 0], [2, 0, first.length], [1, 1, first.length + failed.length]];
  // (Re-replication copies the chunk back to 3 replicas meanwhile, at a new version: the reads retry until they see one version.)
  const held = await waitFor('a read of every replica served', async () => {
    const served = (await client.stat('/failed.log')).chunks[0]!;
    const token = await cluster.token(served.chunkId, served.version, 'read');
    const read = (address: string) => rpc.call(address, 'chunk.read', { chunkId: served.chunkId, version: served.version, offset: 0, length: end, token });
    return Promise.all(served.replicas.map(async (r) => ({ id: r.id, data: (await read(r.address)).data[0]! })));
  });
  for (const { id, data } of held) t.deepEqual(scanRecords(data).map((r) => [r.writer, r.seq, r.offset]), records, `as ${id} holds the chunk`);
  t.deepEqual(scanRecords(await client.read('/failed.log')).map((r) => [r.writer, r.seq, r.offset]), records, 'as a client reads the file');
});

type ReplicaRef = FileStat['chunks'][number]['replicas'][number];
