/**
 * The master's replica locations (ClusterView) at scale, in process, no
 * cluster: bytes per chunk with N chunks × 3 replicas on 10 chunkservers; the
 * time of N recordReplica calls, of N holders() calls, and of chunksOf and
 * remove for one server (what the master does when a server dies). Prints JSON.
 *
 * Bytes are heapUsed + arrayBuffers after a full GC, minus the same before the
 * view was built (`heldBytes`). The chunk ids are made before the first
 * reading and kept alive, so their strings are not counted (the rows keep
 * none; a Map of Maps kept them as keys, strings it shared with the chunk
 * table when a lease grant recorded the replica, its own when a report did).
 *   node dist/bench/cluster-view.js [chunks]   (default 1,000,000)
 */
import { formatChunkId } from '../src/core/chunk-id.js';
import { ClusterView } from '../src/core/cluster-view.js';
import { heldBytes } from '../test/helpers/heap.js';

const CHUNKS = Number(process.argv[2] ?? 1_000_000);
const SERVERS = 10;
const REPLICAS = 3;
const NOW = 1_000;

const ids = Array.from({ length: CHUNKS }, (_, i) => formatChunkId(i + 1));
// Flat strings now: flattened later (by a parse or a hash), their freed parts would count against the view.
for (const id of ids) parseInt(id, 16);
const serverIds = Array.from({ length: SERVERS }, (_, s) => `cs-${s}`);
const load = (id: string) => ({ id, address: 'tcp://127.0.0.1:7000', used: 0, free: 2 ** 40, capacity: 2 ** 40, chunkCount: 0 });

const before = heldBytes();
const view = new ClusterView(3_000);
for (const id of serverIds) view.heartbeat(load(id), NOW);

let started = performance.now();
for (let i = 0; i < CHUNKS; i++) view.recordReplica(serverIds[i % SERVERS]!, ids[i]!, 1, 64 * 2 ** 20);
const recordMs = performance.now() - started;
for (let r = 1; r < REPLICAS; r++) {
  for (let i = 0; i < CHUNKS; i++) view.recordReplica(serverIds[(i + r) % SERVERS]!, ids[i]!, 1, 64 * 2 ** 20);
}
const bytesPerChunk = (heldBytes() - before) / CHUNKS;

let found = 0;
started = performance.now();
for (let i = 0; i < CHUNKS; i++) found += view.holders(ids[i]!, 1, NOW).length;
const holdersMs = performance.now() - started;
if (found !== CHUNKS * REPLICAS) throw new Error(`holders found ${found} replicas, expected ${CHUNKS * REPLICAS}`);

started = performance.now();
const ofOne = view.chunksOf(serverIds[0]!).length;
const chunksOfMs = performance.now() - started;

started = performance.now();
view.remove(serverIds[0]!);
const removeMs = performance.now() - started;
if (view.chunksOf(serverIds[0]!).length !== 0) throw new Error('a removed server still holds chunks');

const round = (n: number) => Math.round(n * 10) / 10;
console.log(JSON.stringify({
  chunks: CHUNKS,
  replicas_per_chunk: REPLICAS,
  bytes_per_chunk: round(bytesPerChunk),
  record_replica_calls_ms: round(recordMs),
  holders_calls_ms: round(holdersMs),
  chunks_of_one_server_ms: round(chunksOfMs),
  chunks_of_one_server: ofOne,
  remove_one_server_ms: round(removeMs),
}));
