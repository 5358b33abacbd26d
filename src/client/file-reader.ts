import { OfsError } from '../core/errors.js';
import { LOCATE_CHUNKS_MAX } from '../core/master-queries.js';
import type { ReplyOf } from '../transport/protocol.js';
import type { RpcClient } from '../transport/rpc-client.js';
import { retry } from '../util/retry.js';
import { chunkTokenStale } from '../security/chunk-token.js';
import { dataSocketOf } from './data-socket.js';
import { timeLeft } from './deadline.js';
import { PIECE_BYTES } from './file-writer.js';
import { InFlightWindow } from './in-flight-window.js';

type Located = ReplyOf<'master.locate'>;
type LocatedChunk = Located['chunks'][number];

/** Pieces read ahead of the consumer: 16 MiB, as writes keep in flight. */
const READ_AHEAD = 8;
const CHUNK_CALL_TIMEOUT_MS = 60_000;

export interface ByteRange {
  offset: number;
  length: number;
}

/** Clamps a requested range to the file, refusing nonsense rather than guessing. */
export function resolveRange(size: number, offset = 0, length?: number): ByteRange {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new OfsError('EINVAL', `invalid read offset ${offset}`);
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new OfsError('EINVAL', `invalid read length ${length}`);
  }
  const start = Math.min(offset, size);
  const end = length === undefined ? size : Math.min(size, start + length);
  return { offset: start, length: end - start };
}

/**
 * `next`, a listing of `first`'s path taken later in one read (of any window
 * of its chunks), if it is the same file: the same first chunk, no fewer
 * chunks, and each chunk both windows hold under the same id (versions and
 * replicas change, and appends add chunks). A file replaced meanwhile (an
 * overwrite or a rename onto its name) has new chunk ids; the read then
 * fails with ESTALE rather than mix two files' bytes.
 */
export function sameFile(first: Located, next: Located): Located {
  const replaced =
    next.type !== first.type ||
    (first.firstChunkId !== null && next.firstChunkId !== first.firstChunkId) ||
    next.chunkCount < first.chunkCount ||
    first.chunks.some((c) => chunkIn(next, c.index) !== undefined && chunkIn(next, c.index)!.chunkId !== c.chunkId);
  if (replaced) throw new OfsError('ESTALE', `${first.path} was replaced while it was read`);
  return next;
}

/** Chunk `index` of a listing, if its window holds it. */
export function chunkIn(file: Located, index: number): LocatedChunk | undefined {
  const chunk = file.chunks[index - (file.chunks[0]?.index ?? 0)];
  return chunk?.index === index ? chunk : undefined;
}

/** Where the window that ends with a file's last chunk starts. */
function tailWindow(file: Located): number {
  return Math.max(0, file.chunkCount - LOCATE_CHUNKS_MAX);
}

/** Asks the master again for the window of a file's chunks from chunk `from`, giving up at `deadline`. */
export type Relocate = (from: number, deadline: number) => Promise<Located>;

/**
 * The size of a located file for a reader: the master's, or further where
 * the last written chunk has synced bytes past it (record appends whose
 * length has not reached the master yet: GFS 3.3). Asks the chunk's replicas
 * in turn, locating the file again while none answers; at the deadline the
 * read fails, since it cannot know where the file ends.
 */
export async function readableSize(
  rpc: RpcClient,
  located: Located,
  /** Chunk versions and replicas change under re-replication and new leases; chunkservers restart. */
  relocate: Relocate,
  deadline: number,
): Promise<number> {
  // The last chunks are in the listing's window, or in the file's last one.
  let file = chunkIn(located, located.chunkCount - 1) || located.chunkCount === 0 ? located : sameFile(located, await relocate(tailWindow(located), deadline));
  return retry(() => lastChunkEnd(rpc, file, deadline), {
    deadline: () => deadline,
    beforeRetry: async () => void (file = sameFile(located, await relocate(tailWindow(file), deadline))),
  });
}

async function lastChunkEnd(rpc: RpcClient, file: Located, deadline: number): Promise<number> {
  const last = [...file.chunks].reverse().find((c) => c.version > 0);
  if (!last || file.size >= (last.index + 1) * file.chunkSize) return file.size;
  const { chunkLength } = await readChunk(rpc, last, 0, 0, 0, deadline, `find where ${file.path} ends from`);
  return Math.max(file.size, last.index * file.chunkSize + chunkLength);
}

/**
 * The bytes of a located file range, piece by piece, in order, with a few
 * pieces read ahead. Each piece comes from one replica; a replica that fails
 * (down, stale, or a block that fails its checksum) is skipped for the next.
 */
export async function* readPieces(
  rpc: RpcClient,
  located: Located,
  range: ByteRange,
  /** Chunk versions and replicas change under re-replication and new leases; a read goes on past a window's end. */
  relocate: Relocate,
  /** How long one piece keeps trying (relocating in between) before the read fails: no wait inside outlasts it. */
  retryForMs: number,
): AsyncGenerator<Buffer> {
  let file = located;
  // One listing asked for at a time per window: the pieces read ahead that cross into the next window wait for the same one.
  let asking: { from: number; listing: Promise<void> } | undefined;
  const locateAgain = (index: number, deadline: number): Promise<void> => {
    if (asking && index >= asking.from && index < asking.from + LOCATE_CHUNKS_MAX) return asking.listing;
    const listing = relocate(index, deadline).then(
      (next) => void (file = sameFile(located, next)),
    ).finally(() => {
      if (asking?.listing === listing) asking = undefined;
    });
    asking = { from: index, listing };
    return listing;
  };
  const chunkAt = async (index: number, deadline: number): Promise<LocatedChunk> => {
    const known = chunkIn(file, index);
    // A long read outlives its tokens: ask the master for fresh ones rather than be refused.
    if (known && !chunkTokenStale(known.token, Date.now())) return known;
    await locateAgain(index, deadline);
    const chunk = chunkIn(file, index);
    if (!chunk) throw new OfsError('EUNAVAILABLE', `${file.path}: the master listed no chunk ${index}`);
    return chunk;
  };
  const readPiece = async (index: number, offset: number, length: number): Promise<Buffer> => {
    const deadline = Date.now() + retryForMs;
    return retry(async () => readFromAnyReplica(rpc, file.path, await chunkAt(index, deadline), offset, length, deadline, Math.floor(offset / PIECE_BYTES)), {
      deadline: () => deadline,
      beforeRetry: () => locateAgain(index, deadline),
    });
  };
  const window = new InFlightWindow<Buffer>(READ_AHEAD);
  const end = range.offset + range.length;
  for (let at = range.offset; at < end; ) {
    // A chunk past the first listing's (appended since: the size came from a later one) is located like any other.
    const index = Math.floor(at / file.chunkSize);
    const inChunk = at - index * file.chunkSize;
    const length = Math.min(PIECE_BYTES, file.chunkSize - inChunk, end - at);
    for (const piece of await window.push(() => readPiece(index, inChunk, length))) yield piece;
    at += length;
  }
  for (const piece of await window.drain()) yield piece;
}

async function readFromAnyReplica(
  rpc: RpcClient,
  path: string,
  chunk: LocatedChunk,
  offset: number,
  length: number,
  deadline: number,
  /** Which replica to try first (modulo their number); the others follow in order. */
  first: number,
): Promise<Buffer> {
  // Version 0: allocated under a hole (a write further on) but never written.
  if (chunk.version === 0) return Buffer.alloc(length);
  const { bytes } = await readChunk(rpc, chunk, offset, length, first, deadline, `read ${path} at ${offset} from`);
  if (bytes.length === length) return bytes;
  // Replicas apply every mutation or the mutation fails, so a replica
  // shorter than the file is a hole no write reached: it reads as zeros.
  return Buffer.concat([bytes, Buffer.alloc(length - bytes.length)]);
}

/**
 * One `chunk.read` from the first replica of `chunk` that answers, starting
 * at replica `first` (modulo their number): pieces of one chunk that start
 * at different replicas in turn keep every replica busy, not one. The error
 * when none answers names each one's failure.
 */
async function readChunk(
  rpc: RpcClient,
  chunk: LocatedChunk,
  offset: number,
  length: number,
  first: number,
  deadline: number,
  /** What the read is for, as the error says it: "cannot <what> chunk ...". */
  what: string,
): Promise<{ bytes: Buffer; chunkLength: number }> {
  const failures: string[] = [];
  const replicas = chunk.replicas.map((_, i, all) => all[(i + first) % all.length]!);
  for (const replica of replicas) {
    try {
      const socket = dataSocketOf(replica);
      const { body, data } = await rpc.call(
        socket.address,
        'chunk.read',
        { chunkId: chunk.chunkId, version: chunk.version, offset, length, token: chunk.token },
        { timeoutMs: timeLeft(deadline, CHUNK_CALL_TIMEOUT_MS, `${what} chunk ${chunk.chunkId}`), curve: socket.curve },
      );
      return { bytes: data[0] ?? Buffer.alloc(0), chunkLength: body.chunkLength };
    } catch (err) {
      if ((err as OfsError).code === 'ECLOSED') throw err;
      failures.push(`${replica.id}: ${(err as Error).message}`);
    }
  }
  const tried = failures.length > 0 ? failures.join('; ') : 'no live replica is known to the master';
  throw new OfsError('EUNAVAILABLE', `cannot ${what} chunk ${chunk.chunkId} (index ${chunk.index}): ${tried}`);
}
