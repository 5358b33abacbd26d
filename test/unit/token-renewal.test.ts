import test from 'ava';
import { ChunkMutator } from '../../src/client/chunk-mutator.js';
import { readPieces } from '../../src/client/file-reader.js';
import type { MasterLink } from '../../src/client/master-link.js';
import { OfsError } from '../../src/core/errors.js';
import { CHUNK_TOKEN_RENEW_MARGIN_MS, type ChunkToken } from '../../src/security/chunk-token.js';
import type { ReplyOf } from '../../src/transport/protocol.js';
import type { RpcClient } from '../../src/transport/rpc-client.js';

// A client never leans on a token about to expire, and a token refused (EACCES) only makes it ask
// again: the user's read or write goes on. The master and chunkservers are fakes.

const CHUNK_ID = '0000000000000001';
const token = (expiresInMs: number, mac = 'x'.repeat(43)): ChunkToken => ({
  chunkId: CHUNK_ID,
  version: 1,
  access: 'read',
  client: 'c',
  expiresAt: Date.now() + expiresInMs,
  mac,
});

/** Answers chunk.read with zeros and chunk.commit with success, recording the token of each call; `refuse` fails the first commits with EACCES. */
function fakeChunkservers(refuse = 0) {
  const tokens: (ChunkToken | undefined)[] = [];
  const rpc = {
    call: async (_address: string, type: string, body: { length: number; token?: ChunkToken }) => {
      tokens.push(body.token);
      if (type === 'chunk.commit' && refuse-- > 0) throw new OfsError('EACCES', 'chunk.commit refused: its capability token expired');
      if (type === 'chunk.commit') return { body: { offset: 0, padded: false }, data: [], epoch: 1 };
      return { body: { length: body.length, chunkLength: body.length }, data: [Buffer.alloc(body.length)], epoch: 1 };
    },
  };
  return { tokens, rpc: rpc as unknown as RpcClient };
}

function located(chunkToken: ChunkToken): ReplyOf<'master.locate'> {
  const replica = { id: 'cs-1', address: 'tcp://127.0.0.1:1', version: 1 };
  return { path: '/f', type: 'file', owner: 'client', group: 'supergroup', mode: 0o644, size: 10, mtime: 0, chunkSize: 1024, chunkCount: 1, firstChunkId: CHUNK_ID, chunks: [{ index: 0, chunkId: CHUNK_ID, version: 1, length: 10, replicas: [replica], primary: null, token: chunkToken }] };
}

test('a reader whose token is about to expire locates the file again before it reads, and reads with the fresh token', async (t) => {
  const { rpc, tokens } = fakeChunkservers();
  const fresh = token(10 * 60_000, 'f'.repeat(43));
  let relocated = 0;
  const relocate = async () => {
    relocated++;
    return located(fresh);
  };
  const pieces: Buffer[] = [];
  for await (const piece of readPieces(rpc, located(token(CHUNK_TOKEN_RENEW_MARGIN_MS - 1000)), { offset: 0, length: 10 }, relocate, 5000)) pieces.push(piece);
  t.is(relocated, 1);
  t.deepEqual(tokens, [fresh]);
  t.is(Buffer.concat(pieces).length, 10);
});

/** A master granting leases whose tokens expire in `expiresInMs`, recording each lease request. */
function fakeMaster(expiresInMs: number) {
  const asked: { afterFailure: boolean }[] = [];
  const master = {
    call: async (type: string, body: { afterFailure: boolean }) => {
      expectLease(type === 'master.lease');
      asked.push({ afterFailure: body.afterFailure });
      const replica = { id: 'cs-1', address: 'tcp://127.0.0.1:1' };
      return { index: 0, chunkId: CHUNK_ID, version: 1, primary: replica, replicas: [replica], leaseMs: 60_000, chunkSize: 1024, token: { ...token(expiresInMs), access: 'write' } };
    },
  };
  return { asked, master: master as unknown as MasterLink };
}

function expectLease(condition: boolean): void {
  if (!condition) throw new Error('unexpected master call');
}

test('a writer does not reuse a lease past its token’s renewal time: it asks the master again', async (t) => {
  const { rpc } = fakeChunkservers();
  const { master, asked } = fakeMaster(CHUNK_TOKEN_RENEW_MARGIN_MS + 50);
  const mutator = new ChunkMutator(master, rpc, 5000);
  await mutator.mutate('/f', 0, 'write', 0, Buffer.from('a'));
  await mutator.mutate('/f', 0, 'write', 0, Buffer.from('b'));
  t.is(asked.length, 1, 'the lease and its token are reused while the token is good');
  await new Promise((resolve) => setTimeout(resolve, 100));
  await mutator.mutate('/f', 0, 'write', 0, Buffer.from('c'));
  t.is(asked.length, 2, 'past the renewal time, a new lease (and token) is asked for');
});

test('a commit refused for its token (EACCES) is retried with a token asked for again, not after a failure: no new version', async (t) => {
  const { rpc } = fakeChunkservers(1);
  const { master, asked } = fakeMaster(10 * 60_000);
  const mutator = new ChunkMutator(master, rpc, 5000);
  const result = await mutator.mutate('/f', 0, 'write', 0, Buffer.from('a'));
  t.is(result.attempts, 2);
  t.deepEqual(asked, [{ afterFailure: false }, { afterFailure: false }]);
});
