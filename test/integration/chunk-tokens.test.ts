import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { OfsClient } from '../../src/client/ofs-client.js';
import { OfsError } from '../../src/core/errors.js';
import { mintChunkToken, type ChunkToken } from '../../src/security/chunk-token.js';
import type { RpcClient } from '../../src/transport/rpc-client.js';
import { patternBytes, sha256, TestCluster } from '../helpers/cluster.js';
import { replicaDigests } from '../helpers/replicas.js';

// Capability tokens on a secure cluster (the default): every way a token can be wrong, on the
// data socket (pushes, reads) and the control socket (commits), refused before any work.
let cluster: TestCluster;
let client: OfsClient;
let rpc: RpcClient;
/** The name the test's RpcClient gives itself; tokens are granted to the verified user of its key instead. */
const NAME = 'test-token-holder';
/** The user of the client key, as the master and chunkservers verify it from the role token. */
const USER = 'client';
const PATH = '/tokens/file';
const CHUNK = 256 * 1024;
const original = patternBytes(300_000, 21);

test.before(async () => {
  cluster = await TestCluster.start({ masters: 1, chunkSize: CHUNK });
  client = await cluster.client();
  await client.write(PATH, original);
  rpc = await cluster.rpc(NAME);
});

test.after.always(async () => {
  rpc?.close();
  await client?.close();
  await cluster?.stop();
});

/** Chunk 0 of the file (two chunks), its first replica, and a genuine token of `access` for it. */
async function target() {
  const stat = await client.stat(PATH);
  const [chunk, other] = stat.chunks;
  const replica = chunk!.replicas[0]!;
  const data = replica.data!;
  const token = async (access: 'read' | 'write', expiresAt?: number) => (await cluster.token(chunk!.chunkId, chunk!.version, access, USER, expiresAt))!;
  return { chunk: chunk!, other: other!, replica, data, token };
}

/**
 * Every wrong token for `access` to chunk 0, and what its refusal must say.
 * `verified`: the socket knows who calls (a control socket), so a token
 * granted to another user is wrong too; on the data socket a token is a
 * bearer's.
 */
async function wrongTokens(access: 'read' | 'write', verified: boolean): Promise<[string, ChunkToken | undefined, RegExp][]> {
  const { chunk, other, token } = await target();
  const genuine = await token(access);
  const expiresAt = Date.now() - 2000;
  return [
    ['no token', undefined, /carries no capability token/],
    ['a forged token (another key)', mintChunkToken(randomBytes(32), genuine), /forged or damaged: the MAC does not match/],
    ['a token whose grant was edited', { ...genuine, expiresAt: genuine.expiresAt + 3_600_000 }, /forged or damaged/],
    ['an expired token', await token(access, expiresAt), new RegExp(`expired at ${new Date(expiresAt).toISOString().replace(/\./g, '\\.')}, \\d+ ms ago`)],
    [
      `a token for the other access`,
      await token(access === 'read' ? 'write' : 'read'),
      new RegExp(`allows ${access === 'read' ? 'write' : 'read'}, not ${access}`),
    ],
    ['a token for another chunk', (await cluster.token(other.chunkId, other.version, access, USER))!, new RegExp(`is for chunk ${other.chunkId}, not chunk ${chunk.chunkId}`)],
    ['a token for another version', (await cluster.token(chunk.chunkId, chunk.version + 1, access, NAME))!, new RegExp(`is for version ${chunk.version + 1} .*not version ${chunk.version}`)],
    ...(verified ? [['a token granted to another user', (await cluster.token(chunk.chunkId, chunk.version, access, 'alice'))!, /was granted to alice, not client/] as [string, ChunkToken, RegExp]] : []),
  ];
}

async function refused(t: import('ava').ExecutionContext, call: Promise<unknown>, what: string, message: RegExp): Promise<void> {
  const error = await call.then(
    () => new OfsError('EINTERNAL', 'it was not refused'),
    (err: OfsError) => err,
  );
  t.is(error.code, 'EACCES', `${what}: ${error.message}`);
  t.regex(error.message, message, what);
}

/** The file reads back as written, from every replica of every chunk. */
async function unchanged(t: import('ava').ExecutionContext): Promise<void> {
  t.is(sha256(await client.read(PATH)), sha256(original));
  const stat = await client.stat(PATH);
  for (const [index, { digests }] of (await replicaDigests(stat, cluster)).entries()) {
    const expected = sha256(original.subarray(index * CHUNK, (index + 1) * CHUNK));
    for (const [server, digest] of digests) t.is(digest, expected, `chunk ${index} on ${server}`);
  }
}

test('chunk.read on the data socket: without a valid read token for that chunk and version it is refused with EACCES naming why', async (t) => {
  const { chunk, data, token } = await target();
  t.false(data.curve, 'the data socket is plain by default');
  const read = (token: ChunkToken | undefined) =>
    rpc.call(data.address, 'chunk.read', { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: 100, token }, { curve: data.curve });
  for (const [what, wrong, message] of await wrongTokens('read', false)) await refused(t, read(wrong), what, new RegExp(`chunk\\.read of chunk ${chunk.chunkId} refused by .*: .*${message.source}`));
  const { data: bytes } = await read(await token('read'));
  t.deepEqual(bytes[0], original.subarray(0, 100), 'a genuine token reads');
});

test('chunk.read on the control socket, where the caller is verified: a token granted to another user is refused too', async (t) => {
  const { chunk, replica, token } = await target();
  const read = (token: ChunkToken | undefined) => rpc.call(replica.address, 'chunk.read', { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: 100, token });
  for (const [what, wrong, message] of await wrongTokens('read', true)) await refused(t, read(wrong), what, new RegExp(`chunk\\.read of chunk ${chunk.chunkId} refused by .*: .*${message.source}`));
  t.deepEqual((await read(await token('read'))).data[0], original.subarray(0, 100), 'a genuine token reads');
});

test('chunk.push on the data socket and chunk.commit on the control socket: without a valid write token nothing is buffered or written', async (t) => {
  const { chunk, replica, data, token } = await target();
  const evil = Buffer.alloc(100_000, 0x66);
  const push = (token: ChunkToken | undefined, bufferId: string) =>
    rpc.call(data.address, 'chunk.push', { chunkId: chunk.chunkId, version: chunk.version, bufferId, chain: [], token }, { data: [evil], curve: data.curve });
  const commit = (token: ChunkToken | undefined, bufferId?: string) =>
    rpc.call(
      chunk.replicas.find((r) => r.id === chunk.primary)?.address ?? replica.address,
      'chunk.commit',
      { chunkId: chunk.chunkId, version: chunk.version, bufferId, mode: 'write', offset: 0, length: bufferId ? evil.length : 4, token },
      { data: bufferId ? [] : [Buffer.from('evil')] },
    );
  for (const [what, wrong, message] of await wrongTokens('write', false)) {
    await refused(t, push(wrong, randomBytes(8).toString('hex')), `push with ${what}`, new RegExp(`chunk\\.push of chunk ${chunk.chunkId} refused by .*: .*${message.source}`));
  }
  // A commit goes to the control socket: there a token seen on the plain data socket is no use to another user.
  for (const [what, wrong, message] of await wrongTokens('write', true)) {
    await refused(t, commit(wrong), `inline commit with ${what}`, new RegExp(`chunk\\.commit of chunk ${chunk.chunkId} refused by .*: .*${message.source}`));
  }
  // A genuine token's push is taken (it only buffers bytes): the refusals above were the tokens', not the socket's.
  await t.notThrowsAsync(push(await token('write'), randomBytes(8).toString('hex')));
  await unchanged(t);
});

test('a push down the chain carries the same token, and each hop checks it', async (t) => {
  const { chunk, token } = await target();
  const [head, ...rest] = chunk.replicas.map((r) => r.data!);
  const genuine = await token('write');
  await t.notThrowsAsync(
    rpc.call(head!.address, 'chunk.push', { chunkId: chunk.chunkId, version: chunk.version, bufferId: randomBytes(8).toString('hex'), chain: rest, token: genuine }, { data: [Buffer.from('ok')], curve: false }),
  );
  // A token for another chunk is refused at the head, before anything goes down the chain.
  const other = await cluster.token(chunk.chunkId, chunk.version + 1, 'write', USER);
  await refused(
    t,
    rpc.call(head!.address, 'chunk.push', { chunkId: chunk.chunkId, version: chunk.version, bufferId: randomBytes(8).toString('hex'), chain: rest, token: other }, { data: [Buffer.from('no')], curve: false }),
    'a token for another version',
    /is for version/,
  );
  await unchanged(t);
});

test('the master grants tokens with leases and locations, for the verified user that asked (not the name it gives itself), with each replica’s data socket', async (t) => {
  const stat = await client.stat(PATH);
  for (const chunk of stat.chunks) {
    t.is(chunk.token?.access, 'read');
    t.is(chunk.token?.chunkId, chunk.chunkId);
    t.is(chunk.token?.version, chunk.version);
    t.true(chunk.token!.expiresAt > Date.now() + 5 * 60_000, 'good for ten minutes');
    t.true(chunk.replicas.every((r) => r.data && r.data.address !== r.address), 'every replica has a data socket of its own');
  }
  const master = (await client.status()).master.address;
  const lease = (await rpc.call(master, 'master.lease', { path: PATH, index: 0, afterFailure: false })).body;
  t.like(lease.token, { access: 'write', chunkId: lease.chunkId, version: lease.version, client: USER });
});
