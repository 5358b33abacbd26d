import test from 'ava';
import { clusterFor, patternBytes, sha256, waitFor, type TestCluster } from '../helpers/cluster.js';
import { decodeRecordAt, encodeRecord } from '../helpers/records.js';

const CHUNK = 256 * 1024;
const CHUNKSERVERS = ['chunkserver-0', 'chunkserver-1', 'chunkserver-2'];

/** kill -9 of every chunkserver at once; resolves when the supervisor has restarted them all. */
async function killEveryChunkserver(cluster: TestCluster): Promise<void> {
  const pids = await Promise.all(CHUNKSERVERS.map((id) => cluster.kill(id)));
  await waitFor('every chunkserver restarted', async () => {
    const now = await Promise.all(CHUNKSERVERS.map(async (id) => (await cluster.process(id)).pid));
    return now.every((pid, i) => pid !== pids[i]);
  });
}

// A kill -9 keeps the page cache, so this finds what a chunkserver forgets on
// restart (a length or checksums not yet on disk), not a missing fdatasync,
// which only a power cut would show.
test('an acknowledged write, small files and acknowledged appends survive kill -9 of every chunkserver right after the ack', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1 });
  const data = patternBytes(5 * CHUNK + 12_345, 21);
  // Small files each get a new chunk, whose files its chunkservers make only after answering its new version.
  const small = Array.from({ length: 24 }, (_, i) => patternBytes(1000 + i, 40 + i));
  await Promise.all([client.write('/durable/file', data), ...small.map((bytes, i) => client.write(`/durable/small-${i}`, bytes))]);
  await killEveryChunkserver(cluster);
  t.is(sha256(await client.read('/durable/file')), sha256(data), 'the acknowledged write reads back whole');
  for (const [i, bytes] of small.entries()) t.is(sha256(await client.read(`/durable/small-${i}`)), sha256(bytes), `small file ${i} reads back whole`);

  // Appends in flight together (they go in batches); the kill comes as soon as the last is acknowledged.
  const acked = await Promise.all(
    Array.from({ length: 200 }, async (_, seq) => {
      const record = encodeRecord(1, seq, patternBytes(100 + ((seq * 31) % 900), seq));
      return { seq, size: record.length, offset: await client.append('/durable/log', record) };
    }),
  );
  await killEveryChunkserver(cluster);
  const end = Math.max(...acked.map((a) => a.offset + a.size));
  // The master may not have heard the appended size before the kill: the first read after it still finds every record.
  const log = await client.read('/durable/log');
  t.true(log.length >= end, `the log reads as ${log.length} bytes; acknowledged records reach ${end}`);
  const broken = acked.filter((a) => {
    const found = decodeRecordAt(log, a.offset);
    return !found || found.seq !== a.seq || found.length !== a.size;
  });
  t.deepEqual(broken, [], `${broken.length} of ${acked.length} acknowledged records are not whole at their offsets`);
});
