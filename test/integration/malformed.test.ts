import test from 'ava';
import { Dealer } from 'zeromq';
import type { OfsClient } from '../../src/client/ofs-client.js';
import type { Role } from '../../src/security/roles.js';
import { patternBytes, sha256, TestCluster } from '../helpers/cluster.js';

let cluster: TestCluster;
let client: OfsClient;

test.before(async () => {
  cluster = await TestCluster.start({ masters: 1 });
  client = await cluster.client();
});

test.after.always(async () => {
  await client?.close();
  await cluster?.stop();
});

/**
 * Sends raw frames over a fresh DEALER, as `role` (CURVE keys, and its role
 * token in a JSON header, so that what is tested is the malformed part, not
 * the credentials) to a `server`, and returns the parsed reply header.
 */
async function rawRequest(address: string, server: Role, role: Role, frames: Buffer[]): Promise<{ type: string; id: string; body: { code?: string; message?: string } }> {
  const identity = await cluster.identity(role);
  const socket = new Dealer({ linger: 0, receiveTimeout: 5000, ...identity?.clientOptions(server) });
  socket.connect(address);
  const [first, ...rest] = frames;
  const signed = identity && first?.[0] === 0x7b ? Buffer.from(JSON.stringify({ ...JSON.parse(first.toString()), auth: identity.token(address) })) : first!;
  try {
    await socket.send([signed, ...rest]);
    const [header] = await socket.receive();
    return JSON.parse(header!.toString());
  } finally {
    socket.close();
  }
}

const header = (type: string, body: unknown) => Buffer.from(JSON.stringify({ type, id: 'm-1', epoch: 0, from: 'test', body }));

/** The role that sends it, when not a client. */
type Case = [string, Buffer[], RegExp, Role?];

const anyRole: Case[] = [
  ['garbage header', [Buffer.from('\x00\x01not json')], /header is not JSON/],
  ['envelope without id', [Buffer.from(JSON.stringify({ type: 'x', epoch: 0, from: '', body: {} }))], /malformed envelope/],
  ['unknown type', [header('master.format-disk', {})], /unknown message type "master\.format-disk"/],
];
const chunkserverCases: Case[] = [
  ['chunk id with a path in it', [header('chunk.read', { chunkId: '../../etc/passwd', version: 1, offset: 0, length: 1 })], /chunkId/],
  ['negative offset', [header('chunk.commit', { chunkId: '0'.repeat(16), version: 1, bufferId: 'ab12ab12', mode: 'write', offset: -5, length: 1 })], /offset/],
  ['unknown mutation mode', [header('chunk.commit', { chunkId: '0'.repeat(16), version: 1, bufferId: 'ab12ab12', mode: 'truncate', offset: 0, length: 1 })], /mode/],
  ['oversize data frame', [header('chunk.push', { bufferId: 'ab12ab12', chain: [] }), Buffer.alloc(17 * 1024 * 1024)], /exceeds/],
  ['push without data', [header('chunk.push', { bufferId: 'ab12ab12', chain: [] })], /exactly one data frame/],
  ['commit with neither pushed nor inline bytes', [header('chunk.commit', { chunkId: '0'.repeat(16), version: 1, mode: 'write', offset: 0, length: 4 })], /chunk\.commit needs exactly one data frame/],
  ['apply of bytes neither pushed nor inline', [header('chunk.apply', { chunkId: '0'.repeat(16), version: 1, serial: 1, padded: false, offset: 0, length: 4 })], /chunk\.apply needs exactly one data frame/, 'chunkserver'],
  ['commit whose inline bytes are not the length it names', [header('chunk.commit', { chunkId: '0'.repeat(16), version: 1, mode: 'write', offset: 0, length: 4 }), Buffer.from('ab')], /names 4 bytes but carries 2/],
  ['a master request', [header('master.list', { path: '/' })], /unknown message type "master\.list"/],
];
const masterCases: Case[] = [
  ['path of the wrong type', [header('master.list', { path: 5 })], /invalid master\.list request: path/],
  ['missing field', [header('master.rename', { from: '/a' })], /invalid master\.rename request: to/],
  ['a chunk request', [header('chunk.read', { chunkId: '0'.repeat(16), version: 1, offset: 0, length: 1 })], /unknown message type "chunk\.read"/],
];

test('malformed requests get an EBADMSG reply naming the problem, and every role carries on', async (t) => {
  const file = await cluster.file();
  for (const p of file.processes.filter((p) => p.role !== 'zookeeper')) {
    const target = `tcp://127.0.0.1:${p.port}`;
    for (const [name, frames, message, role = 'client'] of [...anyRole, ...(p.role === 'master' ? masterCases : chunkserverCases)]) {
      const reply = await rawRequest(target, p.role === 'master' ? 'master' : 'chunkserver', role, frames);
      t.is(reply.type, 'error', `${name} → ${p.id}`);
      t.is(reply.body.code, 'EBADMSG', `${name} → ${p.id}`);
      t.regex(reply.body.message ?? '', message, `${name} → ${p.id}`);
    }
  }

  // Every process is still there and serving.
  const data = patternBytes(300_000, 8);
  await client.write('/after-garbage', data);
  t.is(sha256(await client.read('/after-garbage')), sha256(data));
  const after = await cluster.file();
  t.deepEqual(after.processes.map((p) => p.pid), file.processes.map((p) => p.pid), 'no process was restarted');
});
