import test from 'ava';
import { readableSize, readPieces } from '../../src/client/file-reader.js';
import { formatChunkId } from '../../src/core/chunk-id.js';
import { LOCATE_CHUNKS_MAX } from '../../src/core/master-queries.js';
import type { ReplyOf } from '../../src/transport/protocol.js';
import type { RpcClient } from '../../src/transport/rpc-client.js';

// The master lists a file's chunks a window at a time; a reader goes from one
// window to the next, and notices a file replaced between two. The master and
// chunkservers are fakes: chunk i's bytes are all (i % 251).

type Located = ReplyOf<'master.locate'>;
const CHUNK_SIZE = 1024;
const CHUNKS = 2 * LOCATE_CHUNKS_MAX + 10;

/** A fake master's window of a file of `chunks` chunks from `from`; `firstId` numbers the chunk ids (another file has others). */
function windowOf(from: number, chunks = CHUNKS, firstId = 1): Located {
  const replica = { id: 'cs-1', address: 'tcp://127.0.0.1:1', version: 1 };
  const indices = Array.from({ length: Math.max(0, Math.min(LOCATE_CHUNKS_MAX, chunks - from)) }, (_, i) => from + i);
  return {
    path: '/f', type: 'file', owner: 'client', group: 'supergroup', mode: 0o644, size: chunks * CHUNK_SIZE, mtime: 0, chunkSize: CHUNK_SIZE,
    chunkCount: chunks,
    firstChunkId: formatChunkId(firstId),
    chunks: indices.map((index) => ({ index, chunkId: formatChunkId(firstId + index), version: 1, length: CHUNK_SIZE, replicas: [replica], primary: null })),
  };
}

/** Chunkservers that answer chunk.read with chunk i's bytes; `reads` counts the calls. */
function fakeChunkservers() {
  const stats = { reads: 0 };
  const rpc = {
    call: async (_address: string, _type: string, body: { chunkId: string; length: number }) => {
      stats.reads++;
      const index = parseInt(body.chunkId, 16) - 1;
      return { body: { chunkLength: CHUNK_SIZE }, data: [Buffer.alloc(body.length, index % 251)], epoch: 1 };
    },
  };
  return { stats, rpc: rpc as unknown as RpcClient };
}

async function readAll(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of source) pieces.push(piece);
  return Buffer.concat(pieces);
}

const expected = (fromChunk: number, toChunk: number) => Buffer.concat(Array.from({ length: toChunk - fromChunk }, (_, i) => Buffer.alloc(CHUNK_SIZE, (fromChunk + i) % 251)));

test('a read of a file of three windows of chunks asks the master for each next window once, and reads every chunk right', async (t) => {
  const { rpc } = fakeChunkservers();
  const asked: number[] = [];
  const relocate = async (from: number) => (asked.push(from), windowOf(from));
  const bytes = await readAll(readPieces(rpc, windowOf(0), { offset: 0, length: CHUNKS * CHUNK_SIZE }, relocate, 5000));
  t.true(bytes.equals(expected(0, CHUNKS)));
  t.deepEqual(asked, [LOCATE_CHUNKS_MAX, 2 * LOCATE_CHUNKS_MAX], 'the pieces read ahead into a window wait for one listing of it');
});

test('a read from the middle of a big file starts at the window that holds its offset', async (t) => {
  const { rpc } = fakeChunkservers();
  const asked: number[] = [];
  const relocate = async (from: number) => (asked.push(from), windowOf(from));
  const first = LOCATE_CHUNKS_MAX + 7;
  const bytes = await readAll(readPieces(rpc, windowOf(0), { offset: first * CHUNK_SIZE + 100, length: 3 * CHUNK_SIZE }, relocate, 5000));
  t.true(bytes.equals(expected(first, first + 4).subarray(100, 100 + 3 * CHUNK_SIZE)));
  t.deepEqual(asked, [first]);
});

test('a file replaced under its name between two windows fails the read with ESTALE, not a mix of two files', async (t) => {
  const { rpc } = fakeChunkservers();
  const relocate = async (from: number) => windowOf(from, CHUNKS, 5000); // the same name, other chunks
  await t.throwsAsync(readAll(readPieces(rpc, windowOf(0), { offset: 0, length: CHUNKS * CHUNK_SIZE }, relocate, 5000)), { code: 'ESTALE', message: /\/f was replaced while it was read/ });
});

test('where a file ends is asked of the window with its last chunk, when the first listing does not hold it', async (t) => {
  const { rpc, stats } = fakeChunkservers();
  const asked: number[] = [];
  const relocate = async (from: number) => (asked.push(from), windowOf(from));
  // A master's size short of the last chunk's end (appends it has not heard of): the last chunk tells.
  const first = { ...windowOf(0), size: CHUNKS * CHUNK_SIZE - 500 };
  const tail = (from: number) => ({ ...windowOf(from), size: CHUNKS * CHUNK_SIZE - 500 });
  t.is(await readableSize(rpc, first, async (from) => (asked.push(from), tail(from)), Date.now() + 5000), CHUNKS * CHUNK_SIZE);
  t.deepEqual(asked, [CHUNKS - LOCATE_CHUNKS_MAX]);
  t.is(stats.reads, 1);
  t.is(await readableSize(rpc, windowOf(0, 3), relocate, Date.now() + 5000), 3 * CHUNK_SIZE, 'a small file: its one window');
  t.deepEqual(asked, [CHUNKS - LOCATE_CHUNKS_MAX]);
});

test('a read whose size came from a later listing, with chunks appended since the first, reads them too', async (t) => {
  const { rpc } = fakeChunkservers();
  const grown = CHUNKS + 3;
  const asked: number[] = [];
  // The first listing had CHUNKS chunks; by the time the tail is listed, three more were appended.
  const relocate = async (from: number) => (asked.push(from), windowOf(from, grown));
  const first = windowOf(0);
  const size = await readableSize(rpc, first, relocate, Date.now() + 5000);
  t.is(size, grown * CHUNK_SIZE, 'the size the tail listing gives');
  const bytes = await readAll(readPieces(rpc, first, { offset: 0, length: size }, relocate, 5000));
  t.true(bytes.equals(expected(0, grown)));
});
