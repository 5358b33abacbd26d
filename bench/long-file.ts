/**
 * A file of many chunks in the master's state, in process, no cluster: the
 * time to apply the allocation of all its chunks at once (a write that far
 * past its end), beside the time to decide those events; of one lease's
 * version bump on it and of one more chunk, beside one copy of its chunk list; and the largest snapshot piece it makes
 * (a standby is sent each piece as one message of at most 1 MiB). Prints JSON.
 *   node dist/bench/long-file.js [chunks]   (default 60,000)
 */
import { decideChunksUpTo, decideCreate } from '../src/core/commands.js';
import type { MasterEvent, UnsequencedEvent } from '../src/core/events.js';
import { apply, applyAll, emptyNamespace, lookup, type FileNode, type Namespace } from '../src/core/namespace.js';
import { namespacePieces } from '../src/core/namespace-snapshot.js';
import { UNCHECKED } from '../src/core/permissions.js';
import { encodeEnvelope, MAX_HEADER_BYTES } from '../src/transport/envelope.js';

const CHUNKS = Number(process.argv[2] ?? 60_000);
const REPEATS = 50;

const sequenced = (ns: Namespace, events: UnsequencedEvent[]) => events.map((e, i) => ({ ...e, seq: ns.seq + 1 + i }) as MasterEvent);
const ms = (run: () => void, times = 1) => {
  const started = performance.now();
  for (let i = 0; i < times; i++) run();
  return (performance.now() - started) / times;
};
const round = (n: number) => Math.round(n * 1000) / 1000;

const created = applyAll(emptyNamespace, sequenced(emptyNamespace, decideCreate(emptyNamespace, '/long', false, 1, UNCHECKED)));
let allocations: MasterEvent[] = [];
const decideAllMs = ms(() => (allocations = sequenced(created, decideChunksUpTo(created, '/long', CHUNKS - 1, 0))));
let ns = created;
const allocateAllMs = ms(() => (ns = applyAll(created, allocations)));
const file = lookup(ns, '/long') as FileNode;
if (file.chunks.length !== CHUNKS) throw new Error(`the file has ${file.chunks.length} chunks, not ${CHUNKS}`);

let copy: unknown[] = [];
const copyMs = ms(() => (copy = [...file.chunks]), REPEATS);
if (copy.length !== CHUNKS) throw new Error('the copy lost chunks');
const last = file.chunks[CHUNKS - 1]!;
let bumped = ns;
let version = last.version;
const bumpMs = ms(() => (bumped = apply(bumped, { type: 'ChunkVersionBumped', path: '/long', index: CHUNKS - 1, chunkId: last.id, version: ++version, seq: bumped.seq + 1 })), REPEATS);
const oneMoreMs = ms(() => void applyAll(ns, sequenced(ns, decideChunksUpTo(ns, '/long', CHUNKS, 0))), REPEATS);

let largestPiece = 0;
for (const piece of namespacePieces(bumped)) {
  largestPiece = Math.max(largestPiece, encodeEnvelope({ type: 'reply', id: 'x', epoch: 1, from: 'm', body: { piece, done: false } })[0]!.length);
}

console.log(JSON.stringify({
  chunks: CHUNKS,
  allocate_all_at_once_ms: round(allocateAllMs),
  decide_all_at_once_ms: round(decideAllMs),
  version_bump_ms: round(bumpMs),
  allocate_one_more_ms: round(oneMoreMs),
  copy_chunk_list_ms: round(copyMs),
  largest_snapshot_piece_bytes: largestPiece,
  message_header_limit_bytes: MAX_HEADER_BYTES,
}));
