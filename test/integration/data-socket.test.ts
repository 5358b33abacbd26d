import test, { type ExecutionContext } from 'ava';
import { Dealer } from 'zeromq';
import type { OfsClient } from '../../src/client/ofs-client.js';
import { OfsError } from '../../src/core/errors.js';
import { MAX_DATA_FRAME, type MessageType, type RequestOf } from '../../src/transport/protocol.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { patternBytes, sha256, TestCluster } from '../helpers/cluster.js';

// Each chunkserver's data socket: pushes and reads only, authorised by capability tokens; plain by
// default, CURVE with --encrypt-data, plain and unchecked with --insecure. One cluster of each.
type Mode = 'default' | 'encrypt-data' | 'insecure';
const clusters = new Map<Mode, { cluster: TestCluster; client: OfsClient }>();
const CHUNK = 256 * 1024;
/** Four chunks, in pieces above the inline limit: every one pushed down the chain of data sockets. */
const written = patternBytes(4 * CHUNK + 12_345, 31);

test.before(async () => {
  for (const mode of ['default', 'encrypt-data', 'insecure'] as const) {
    const cluster = await TestCluster.start({ masters: 1, chunkSize: CHUNK, encryptData: mode === 'encrypt-data', insecure: mode === 'insecure' });
    clusters.set(mode, { cluster, client: await cluster.client() });
  }
});

test.after.always(async () => {
  for (const { cluster, client } of clusters.values()) {
    await client.close();
    await cluster.stop();
  }
});

async function firstChunk(mode: Mode, path: string) {
  const { client } = clusters.get(mode)!;
  await client.write(path, written);
  const chunk = (await client.stat(path)).chunks[0]!;
  return { chunk, replica: chunk.replicas[0]!, data: chunk.replicas[0]!.data! };
}

async function refusal(call: Promise<unknown>): Promise<OfsError> {
  return call.then(
    () => new OfsError('EINTERNAL', 'it was not refused'),
    (err: OfsError) => err,
  );
}

const refusedOnDataSocket = async (t: ExecutionContext, mode: Mode) => {
  const { cluster, client } = clusters.get(mode)!;
  const path = `/only-bulk-${mode}`;
  const { chunk, data } = await firstChunk(mode, path);
  t.is(data.curve, mode === 'encrypt-data');
  const rpc = await cluster.rpc('test-data-socket-caller');
  t.teardown(() => rpc.close());
  const token = await cluster.token(chunk.chunkId, chunk.version, 'write');
  const { chunkId, version } = chunk;
  const others: { [T in MessageType]?: RequestOf<T> } = {
    'chunk.commit': { chunkId, version, mode: 'write', offset: 0, length: 4, token },
    'chunk.apply': { chunkId, version, serial: 1, padded: false, offset: 0, length: 4 },
    'chunk.setVersion': { chunkId, version: version + 5 },
    'chunk.revokeLease': { chunkId },
    'chunk.copyFrom': { chunkId, version, source: data.address },
    'chunkserver.report': { from: 0 },
    'admin.crashActor': { actor: `replica-${chunkId}` },
    'master.delete': { path, recursive: false },
  };
  for (const [type, body] of Object.entries(others)) {
    const error = await refusal(rpc.call(data.address, type as MessageType, body as never, { data: [Buffer.from('evil')], curve: data.curve, peer: 'chunkserver' }));
    t.is(error.code, 'EACCES', `${type}: ${error.message}`);
    t.regex(error.message, new RegExp(`${type.replace('.', '\\.')} refused by the data socket of .*: it takes chunk\\.push and chunk\\.read only`), type);
  }
  t.is(sha256(await client.read(path)), sha256(written), 'the file is as written');
  t.is((await client.stat(path)).chunks[0]!.version, version, 'no new version');
};

test('a client key on the (plain) data socket may send nothing but chunk.push and chunk.read: anything else is refused EACCES', refusedOnDataSocket, 'default');
test('a client key on the --encrypt-data data socket (over CURVE) may send nothing but chunk.push and chunk.read', refusedOnDataSocket, 'encrypt-data');

test('--encrypt-data: a plain connection to the data socket gets nothing, and an RpcClient without keys is told it needs them', async (t) => {
  const { cluster } = clusters.get('encrypt-data')!;
  const { chunk, data } = await firstChunk('encrypt-data', '/plain-refused');
  const token = await cluster.token(chunk.chunkId, chunk.version, 'read');
  const socket = new Dealer({ linger: 0, receiveTimeout: 3000 });
  t.teardown(() => socket.close());
  socket.connect(data.address);
  const body = { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: 100, token };
  await socket.send(Buffer.from(JSON.stringify({ type: 'chunk.read', id: 'r-1', epoch: 0, from: 'plain-reader', body })));
  await t.throwsAsync(socket.receive(), { code: 'EAGAIN' }, 'no reply at all');

  const plain = new RpcClient('plain-reader');
  t.teardown(() => plain.close());
  const error = await refusal(plain.call(data.address, 'chunk.read', body, { timeoutMs: 20_000 }));
  t.is(error.code, 'EACCES', error.message);
  t.regex(error.message, /requires CURVE security/);
});

test('the same bytes read back with the same SHA-256 from a default, an --encrypt-data and an --insecure cluster; only the insecure one grants no tokens', async (t) => {
  for (const mode of ['default', 'encrypt-data', 'insecure'] as const) {
    const { client } = clusters.get(mode)!;
    await client.write('/same', written);
    t.is(sha256(await client.read('/same')), sha256(written), mode);
    const stat = await client.stat('/same');
    for (const chunk of stat.chunks) {
      t.is(chunk.token === undefined, mode === 'insecure', `${mode}: a token for chunk ${chunk.index}`);
      for (const replica of chunk.replicas) t.like(replica.data, { curve: mode === 'encrypt-data' }, `${mode}: ${replica.id}`);
    }
  }
});

test('--insecure: nothing is checked on the data socket (no token at all is fine)', async (t) => {
  const { cluster } = clusters.get('insecure')!;
  const { chunk, data } = await firstChunk('insecure', '/open');
  const rpc = await cluster.rpc('anyone');
  t.teardown(() => rpc.close());
  const { data: bytes } = await rpc.call(data.address, 'chunk.read', { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: 100 }, { curve: false });
  t.deepEqual(bytes[0], written.subarray(0, 100));
});

test(`the data socket has the control socket's limits: a frame over ${MAX_DATA_FRAME} bytes makes ZeroMQ drop the peer, and it serves on`, async (t) => {
  const { cluster } = clusters.get('default')!;
  const { chunk, data } = await firstChunk('default', '/limits');
  const socket = new Dealer({ linger: 0, receiveTimeout: 3000 });
  t.teardown(() => socket.close());
  socket.connect(data.address);
  const token = await cluster.token(chunk.chunkId, chunk.version, 'write');
  const body = { chunkId: chunk.chunkId, version: chunk.version, bufferId: 'ab12ab12', chain: [], token };
  await socket.send([Buffer.from(JSON.stringify({ type: 'chunk.push', id: 'p-1', epoch: 0, from: 'oversize', body })), Buffer.alloc(MAX_DATA_FRAME + 1)]);
  await t.throwsAsync(socket.receive(), { code: 'EAGAIN' }, 'no reply: the peer was dropped');
  const rpc = await cluster.rpc('after-oversize');
  t.teardown(() => rpc.close());
  const readToken = await cluster.token(chunk.chunkId, chunk.version, 'read');
  const { data: bytes } = await rpc.call(data.address, 'chunk.read', { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: 10, token: readToken }, { curve: false });
  t.deepEqual(bytes[0], written.subarray(0, 10));
});
