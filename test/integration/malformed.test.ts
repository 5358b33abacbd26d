import test from 'ava';
import { Dealer } from 'zeromq';
import type { OfsClient } from '../../src/client/ofs-client.js';
import type { Role } from '../../src/security/roles.js';
import { patternBytes, sha256, TestCluster } from '../helpers/cluster.js';

let cluster: TestCluster;
let client: OfsClient;

test.before(async () => {
  cluster = await TestCluster.start();
  client = await cluster.client();
});

test.after.always(async () => {
  await client?.close();
  await cluster?.stop();
});

/**
 * Sends raw frames over a fresh DEALER, as `role` (CURVE keys, its role
 * token in a JSON header, and a capability token for a chunk it names, so
 * that what is tested is the malformed part, not the credentials) to a
 * `server`, and returns the parsed reply header.
 */
async function rawRequest(address: string, server: Role, role: Role, frames: Buffer[]): Promise<{ type: string; id: string; body: { code?: string; message?: string } }> {
  const identity = await cluster.identity(role);
  const socket = new Dealer({ linger: 0, receiveTimeout: 5000, ...identity?.clientOptions(server) });
  socket.connect(address);
  const [first, ...rest] = frames;
  const signed = identity && first?.[0] === 0x7b ? Buffer.from(JSON.stringify(await credentialed(JSON.parse(first.toString()), identity.token(address), role))) : first!;
  try {
    await socket.send([signed, ...rest]);
    const [header] = await socket.receive();
    return JSON.parse(header!.toString());
  } finally {
    socket.close();
  }
}

/** `envelope` with role token `auth` and, for a request naming a chunk, a capability token. */
async function credentialed(envelope: { type: string; from: string; body: { chunkId?: string; version?: number } }, auth: string, role: Role): Promise<object> {
  const { chunkId, version } = envelope.body;
  const access = envelope.type === 'chunk.read' ? 'read' : 'write';
  const token = typeof chunkId === 'string' && typeof version === 'number' ? await cluster.token(chunkId, version, access, role) : undefined;
  return { ...envelope, auth, body: { ...envelope.body, token } };
}

const header = (type: string, body: unknown, epoch = 0) => Buffer.from(JSON.stringify({ type, id: 'm-1', epoch, from: 'test', body }));

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
  ['push without data', [header('chunk.push', { chunkId: '0'.repeat(16), version: 1, bufferId: 'ab12ab12', chain: [] })], /exactly one data frame/],
  ['commit with neither pushed nor inline bytes', [header('chunk.commit', { chunkId: '0'.repeat(16), version: 1, mode: 'write', offset: 0, length: 4 })], /chunk\.commit needs exactly one data frame/],
  ['apply of bytes neither pushed nor inline', [header('chunk.apply', { chunkId: '0'.repeat(16), version: 1, serial: 1, padded: false, offset: 0, length: 4 })], /chunk\.apply needs exactly one data frame/, 'chunkserver'],
  ['commit whose inline bytes are not the length it names', [header('chunk.commit', { chunkId: '0'.repeat(16), version: 1, mode: 'write', offset: 0, length: 4 }), Buffer.from('ab')], /names 4 bytes but carries 2/],
  ['a master request', [header('master.list', { path: '/' })], /unknown message type "master\.list"/],
  ['new version naming put bytes it does not carry', [header('chunk.setVersion', { chunkId: '0'.repeat(16), version: 1, fresh: true, put: 4 })], /chunk\.setVersion needs exactly one data frame/, 'master'],
];
const masterCases: Case[] = [
  ['path of the wrong type', [header('master.list', { path: 5 })], /invalid master\.list request: path/],
  ['missing field', [header('master.rename', { from: '/a' })], /invalid master\.rename request: to/],
  ['a chunk request', [header('chunk.read', { chunkId: '0'.repeat(16), version: 1, offset: 0, length: 1 })], /unknown message type "chunk\.read"/],
  ['put without its bytes', [header('master.put', { path: '/bad-put', length: 4 })], /master\.put needs exactly one data frame/],
  ['put whose bytes are not the length it names', [header('master.put', { path: '/bad-put', length: 4 }), Buffer.from('ab')], /master\.put names 4 bytes but carries 2/],
  ['put of a file too big to put', [header('master.put', { path: '/bad-put', length: 16 * 1024 + 1 }), Buffer.alloc(16 * 1024 + 1)], /invalid master\.put request: length/],
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

  await t.throwsAsync(client.stat('/bad-put'), { message: /does not exist/ }, 'a malformed put made nothing');
  // Every process is still there and serving.
  const data = patternBytes(300_000, 8);
  await client.write('/after-garbage', data);
  t.is(sha256(await client.read('/after-garbage')), sha256(data));
  const after = await cluster.file();
  t.deepEqual(after.processes.map((p) => p.pid), file.processes.map((p) => p.pid), 'no process was restarted');
});

test('an epoch no master holds is refused, and fences off neither the active master nor its standby', async (t) => {
  const file = await cluster.file();
  const { master } = await client.status();
  const future = 1e12;
  for (const p of file.processes.filter((p) => p.role !== 'zookeeper')) {
    const target = `tcp://127.0.0.1:${p.port}`;
    // To a chunkserver, as a master's order; to the standby (and the active), as the active's events.
    const frames = p.role === 'chunkserver' ? [header('chunk.revokeLease', { chunkId: 'f'.repeat(16) }, future)] : [header('standby.append', { events: [] }, future)];
    const server = p.role === 'chunkserver' ? 'chunkserver' : 'master';
    const reply = await rawRequest(target, server, 'master', frames);
    t.is(reply.type, 'error', p.id);
    if (target === master.address) t.is(reply.body.code, 'ESTALE', `${p.id} is active: it takes no events`);
    else t.regex(reply.body.message ?? '', /epoch 1000000000000 is above ZooKeeper's master epoch/, p.id);
  }
  const data = patternBytes(200_000, 5);
  await client.write('/after-future-epoch', data);
  t.is(sha256(await client.read('/after-future-epoch')), sha256(data));
  t.is((await client.status()).master.address, master.address, 'the active master was not made to step down');
  t.deepEqual((await cluster.file()).processes.map((p) => p.pid), file.processes.map((p) => p.pid), 'no process was restarted');
});

test('path limits on the master: 4096 bytes and 256 components are made; one byte or one component more is refused with EINVAL, and the namespace is unchanged', async (t) => {
  const { master } = await client.status();
  const ask = async (type: string, body: unknown) => (await rawRequest(master.address, 'master', 'client', [header(type, body)])) as { type: string; body: { code?: string; message?: string; master?: { digest?: string } } };
  const digest = async () => (await ask('master.status', { digest: true })).body.master?.digest;
  // 'é' is two bytes: the limit counts UTF-8 bytes, not characters.
  const longest = `/${'é'.repeat(100)}`.repeat(20) + `/${'x'.repeat(75)}`;
  const deepest = '/deep' + '/d'.repeat(255);
  t.is(Buffer.byteLength(longest), 4096);
  t.is(deepest.split('/').length - 1, 256);
  for (const path of [longest, deepest]) t.is((await ask('master.mkdir', { path, parents: true })).type, 'reply');

  const before = await digest();
  const over: [string, RegExp][] = [
    [`${longest}x`, /4097 bytes long, over 4096/],
    [`${deepest}/d`, /257 components deep, over 256/],
    [`/${'é'.repeat(128)}`, /a component is longer than 255 bytes/],
  ];
  for (const [path, message] of over) {
    for (const [type, body] of [['master.mkdir', { path, parents: true }], ['master.create', { path, overwrite: true }], ['master.rename', { from: '/deep', to: path }]] as const) {
      const reply = await ask(type, body);
      t.is(reply.body.code, 'EINVAL', `${type} ${path.slice(0, 20)}`);
      t.regex(reply.body.message ?? '', message);
    }
  }
  t.is(await digest(), before, 'nothing was made, moved or journaled');
  await t.throwsAsync(client.mkdir(`${deepest}/d`), { code: 'EINVAL', message: /257 components deep/ });
});
