import test from 'ava';
import { MasterChannel } from '../../src/actors/chunkserver/master-channel.js';
import type { ChunkserverProcess } from '../../src/actors/chunkserver/chunkserver-process.js';
import { UNFINISHED_COPY_VERSION } from '../../src/actors/chunkserver/chunk-replica-actor.js';
import { openAt, pattern, tempDir } from '../helpers/chunk-store.js';
import { formatChunkId } from '../../src/core/chunk-id.js';
import { ClusterView } from '../../src/core/cluster-view.js';
import { encodeEnvelope } from '../../src/transport/envelope.js';
import { protocol, REPORT_PART_CHUNKS, type RequestOf } from '../../src/transport/protocol.js';
import type { MemberInfo } from '../../src/zk/registry.js';

test('a full chunk report gives each replica’s synced length, never bytes a crash could take back, and no copy under way', async (t) => {
  const store = await openAt(t, await tempDir(t));
  const channel = new MasterChannel({ store } as unknown as ChunkserverProcess, 1000);
  await store.create('00000000000000a1', 3);
  await store.write('00000000000000a1', 0, pattern(5000, 1));
  await store.sync('00000000000000a1');
  // Written after the last sync: on disk only once the next sync returns.
  await store.write('00000000000000a1', 5000, pattern(3000, 2));
  await store.create('00000000000000a2', UNFINISHED_COPY_VERSION);
  await store.write('00000000000000a2', 0, pattern(100, 3));
  await store.sync('00000000000000a2');
  t.deepEqual(channel.fullReport(), [{ chunkId: '00000000000000a1', version: 3, length: 5000 }]);
  await store.sync('00000000000000a1');
  t.deepEqual(channel.fullReport(), [{ chunkId: '00000000000000a1', version: 3, length: 8000 }]);
});

test('a full report of more replicas than one message holds goes in parts, each within the limit, which together name every replica', async (t) => {
  const chunks = Array.from({ length: 2 * REPORT_PART_CHUNKS + 500 }, (_, i) => ({ id: formatChunkId(i + 1), version: 1, syncedLength: 10 }));
  const sent: RequestOf<'master.chunkReport'>[] = [];
  const process = {
    id: 'cs-1', incarnation: 'i-1', address: 'tcp://127.0.0.1:1', log: { info: () => {}, warn: () => {}, debug: () => {} },
    store: { list: () => chunks, freeBytes: async () => 1e12, usedBytes: () => 1e9 },
    leases: { wanted: () => [], extend: () => {} },
    fence: { admits: async () => true },
    rpc: {
      call: async (_address: string, type: string, body: RequestOf<'master.chunkReport'>) => {
        if (type === 'master.heartbeat') return { body: { known: false, extended: [], deleteChunks: [] }, epoch: 1 };
        sent.push(body);
        return { body: { deleteChunks: [] }, epoch: 1 };
      },
    },
  };
  const channel = new MasterChannel(process as unknown as ChunkserverProcess, 1000);
  channel.masterChanged({ id: 'master-0', address: 'tcp://127.0.0.1:2' } as MemberInfo);
  for (let i = 0; i < 200 && !sent.at(-1)?.part?.last; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual(sent.map((r) => [r.full, r.part?.report, r.part?.first, r.part?.last, r.chunks.length]), [
    [true, 'push-1', true, false, REPORT_PART_CHUNKS],
    [true, 'push-1', false, false, REPORT_PART_CHUNKS],
    [true, 'push-1', false, true, 500],
  ]);
  t.true(sent.every((r) => protocol['master.chunkReport'].request.safeParse(r).success && encodeEnvelope({ type: 'master.chunkReport', id: 'x', epoch: 1, from: 'cs-1', body: r }).length > 0));
  // The master that takes them in turn ends up knowing every replica, as from one report.
  const view = new ClusterView(1000);
  view.report({ ...sent[0]!, id: 'cs-1' }, [{ chunkId: formatChunkId(999_999), version: 1, length: 1 }], false, 0);
  for (const r of sent) view.report(r, r.chunks, r.full, 0, r.part);
  t.deepEqual(new Set(view.chunksOf('cs-1')), new Set(chunks.map((c) => c.id)));
});

test('a master that took over reads the chunk list in parts of one list taken at the first part, whatever is made meanwhile', (t) => {
  const chunks = Array.from({ length: 2 * REPORT_PART_CHUNKS + 116 }, (_, i) => ({ id: formatChunkId(i + 1), version: 2, syncedLength: 7 }));
  const listed = [...chunks];
  const channel = new MasterChannel({ store: { list: () => chunks } } as unknown as ChunkserverProcess, 1000);
  const first = channel.reportPart(5, 0);
  chunks.unshift({ id: formatChunkId(999_999), version: 1, syncedLength: 0 }); // made after the list was taken
  const second = channel.reportPart(5, REPORT_PART_CHUNKS);
  const last = channel.reportPart(5, 2 * REPORT_PART_CHUNKS);
  t.deepEqual([first, second, last].map((p) => [p.chunks.length, p.more]), [[REPORT_PART_CHUNKS, true], [REPORT_PART_CHUNKS, true], [116, false]]);
  t.deepEqual([first, second, last].flatMap((p) => p.chunks.map((c) => c.chunkId)), listed.map((c) => c.id), 'every chunk of the list once');
  // The next report, or one for another master, starts from a new list.
  t.is(channel.reportPart(6, 0).chunks[0]!.chunkId, formatChunkId(999_999));
  // A part of a list this process no longer holds (it restarted, or another master asked since) is refused, not taken from a new list.
  t.throws(() => channel.reportPart(5, REPORT_PART_CHUNKS), { code: 'ESTALE', message: /ask from the first part/ });
  t.throws(() => new MasterChannel({ store: { list: () => chunks } } as unknown as ChunkserverProcess, 1000).reportPart(6, REPORT_PART_CHUNKS), { code: 'ESTALE' });
});
