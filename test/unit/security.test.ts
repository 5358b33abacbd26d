import { chmod, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { curveKeyPair } from 'zeromq';
import { OfsError } from '../../src/core/errors.js';
import { addUser, initKeys, readChunkTokenKey, readKeyFile, readRoster, readUserKeyFile, readZkDigest } from '../../src/security/keys.js';
import { RoleTokenVerifier, roleToken, signingKey } from '../../src/security/role-token.js';
import { maySend, ROLES, serverRoleOf } from '../../src/security/roles.js';
import { WireIdentity, ZAP_DOMAIN } from '../../src/security/wire-identity.js';
import { judge, type ZapRequest } from '../../src/security/zap-handler.js';
import { z85Encode } from '../../src/security/z85.js';
import { protocol, type MessageType } from '../../src/transport/protocol.js';
import { membersOnlyAcl } from '../../src/zk/acl.js';

async function keysDir(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await initKeys(join(dir, 'keys'));
  return join(dir, 'keys');
}

test('z85 encodes as ZeroMQ does: the RFC 32 test vector, and a key pair’s own public key', (t) => {
  t.is(z85Encode(Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b])), 'HelloWorld');
  t.throws(() => z85Encode(Buffer.alloc(3)), { instanceOf: RangeError });
});

test('keys init: a key file per role, the roster, the ZooKeeper digest and the chunk token key, every one mode 0600; a second init changes nothing', async (t) => {
  const dir = await keysDir(t);
  const files = (await readdir(dir)).sort();
  t.deepEqual(files, ['chunk-token.key', 'chunkserver.key', 'client.key', 'master.key', 'operator.key', 'roster.json', 'zk-digest']);
  for (const file of files) t.is((await stat(join(dir, file))).mode & 0o777, 0o600, file);
  t.is((await stat(dir)).mode & 0o777, 0o700);
  const before = await readFile(join(dir, 'master.key'), 'utf8');
  await t.throwsAsync(initKeys(dir), { instanceOf: OfsError, code: 'EEXIST' } as never);
  t.is(await readFile(join(dir, 'master.key'), 'utf8'), before, 'the old key is kept');
  const roster = await readRoster(dir);
  for (const role of ROLES) t.is(roster.roles[role].curve, (await readKeyFile(dir, role)).curve.publicKey, role);
  t.regex(await readZkDigest(dir), /^ofs:[0-9a-f]+$/);
  t.is((await readChunkTokenKey(dir)).length, 32);
});

test('a key file others may read, or a malformed one, is refused with a message that names the file and not the secret', async (t) => {
  const dir = await keysDir(t);
  await chmod(join(dir, 'client.key'), 0o644);
  const open = await t.throwsAsync<OfsError>(readKeyFile(dir, 'client'));
  t.is(open?.code, 'EACCES');
  t.regex(open?.message ?? '', /client\.key may be read by others \(mode 644\): chmod 600/);
  const secret = JSON.parse(await readFile(join(dir, 'master.key'), 'utf8')) as { curve: { secretKey: string } };
  await writeFile(join(dir, 'master.key'), JSON.stringify({ ...secret, curve: { ...secret.curve, publicKey: 'short' } }), { mode: 0o600 });
  const bad = await t.throwsAsync<OfsError>(readKeyFile(dir, 'master'));
  t.is(bad?.code, 'EINVAL');
  t.regex(bad?.message ?? '', /master\.key is malformed: curve\.publicKey/);
  t.false(bad?.message.includes(secret.curve.secretKey), 'the secret key is not in the message');
  await t.throwsAsync(readKeyFile(join(dir, 'missing'), 'operator'), { code: 'ENOENT' } as never);
});

test('a wire identity serialises without its secret keys (what a logger would print)', async (t) => {
  const dir = await keysDir(t);
  const identity = await WireIdentity.load(dir, 'master');
  const key = await readKeyFile(dir, 'master');
  const printed = JSON.stringify({ identity });
  t.false(printed.includes(key.curve.secretKey));
  t.false(printed.includes(key.sign.secretKey));
  t.true(printed.includes(key.curve.publicKey));
});

test('role tokens: a token proves its role at the address it was signed for only; forged, foreign and missing ones prove nothing', async (t) => {
  const dir = await keysDir(t);
  const roster = await readRoster(dir);
  const master = signingKey((await readKeyFile(dir, 'master')).sign.secretKey);
  const client = signingKey((await readKeyFile(dir, 'client')).sign.secretKey);
  const here = new RoleTokenVerifier(() => roster, 'tcp://127.0.0.1:1000');
  t.is(here.principalOf(roleToken('master', master, 'tcp://127.0.0.1:1000'))?.role, 'master');
  t.is(here.principalOf(roleToken('master', master, 'tcp://127.0.0.1:1000'))?.role, 'master', 'remembered');
  t.is(here.principalOf(roleToken('client', client, 'tcp://127.0.0.1:1000'))?.role, 'client');
  t.is(here.principalOf(roleToken('master', master, 'tcp://127.0.0.1:2000'))?.role, undefined, 'signed for another server');
  const claimed = roleToken('client', client, 'tcp://127.0.0.1:1000').replace(/^client:/, 'master:');
  t.is(here.principalOf(claimed)?.role, undefined, 'a client’s signature claiming the master role');
  t.is(here.principalOf(undefined)?.role, undefined);
  t.is(here.principalOf('master:short')?.role, undefined);
  t.is(here.principalOf(`nobody:${'A'.repeat(86)}`)?.role, undefined);
});

test('users: add-user makes a 0600 key of the client’s shape and lists it with its groups; its token names the user, a client with the user’s rights', async (t) => {
  const dir = await keysDir(t);
  const path = await addUser(dir, 'alice', ['staff', 'ops', 'staff']);
  t.is((await stat(path)).mode & 0o777, 0o600);
  const key = await readUserKeyFile(dir, 'alice');
  t.like(key, { role: 'client', user: 'alice' });
  const roster = await readRoster(dir);
  t.deepEqual(roster.users?.alice, { curve: key.curve.publicKey, sign: key.sign.publicKey, groups: ['staff', 'ops'] });
  await t.throwsAsync(addUser(dir, 'alice', []), { code: 'EEXIST' });
  await t.throwsAsync(addUser(dir, 'client', []), { code: 'EINVAL', message: /a role's name/ });
  await t.throwsAsync(addUser(dir, 'Bad Name', []), { code: 'EINVAL', message: /invalid user name/ });
  await t.throwsAsync(addUser(dir, 'bob', ['no way']), { code: 'EINVAL', message: /invalid group name/ });
  t.deepEqual(Object.keys((await readRoster(dir)).users ?? {}), ['alice'], 'refusals changed nothing');

  const alice = await WireIdentity.loadUser(dir, 'alice');
  t.like(alice.toJSON(), { role: 'client', principal: 'alice' });
  const here = new RoleTokenVerifier(() => roster, 'tcp://127.0.0.1:1000');
  t.deepEqual(here.principalOf(alice.token('tcp://127.0.0.1:1000')), { role: 'client', caller: { user: 'alice', groups: ['staff', 'ops'], superuser: false } });
  const client = await WireIdentity.loadUser(dir, 'client');
  t.deepEqual(here.principalOf(client.token('tcp://127.0.0.1:1000'))?.caller, { user: 'client', groups: [], superuser: false });
  const operator = await WireIdentity.loadUser(dir, 'operator');
  t.like(here.principalOf(operator.token('tcp://127.0.0.1:1000')), { role: 'operator', caller: { user: 'operator', superuser: true } });
  // alice's signature under another user's name proves nothing.
  t.is(here.principalOf(alice.token('tcp://127.0.0.1:1000').replace(/^alice:/, 'bob:')), undefined);
  await t.throwsAsync(WireIdentity.loadUser(dir, 'mallory'), { code: 'ENOENT', message: /users\/mallory\.key/ });
});

test('a running process learns users added since it read the roster, looking at most once a second, and takes nothing else from the file', async (t) => {
  const dir = await keysDir(t);
  const server = await WireIdentity.load(dir, 'master');
  const before = server.roster;
  const verifier = new RoleTokenVerifier(() => server.roster, 'tcp://127.0.0.1:1000');
  await addUser(dir, 'carol', ['staff']);
  const carol = await WireIdentity.loadUser(dir, 'carol');
  t.is(verifier.principalOf(carol.token('tcp://127.0.0.1:1000')), undefined, 'unknown until the roster is read again');
  t.true(await server.refreshUsers(10_000));
  t.not(server.roster, before);
  t.deepEqual(server.roster.roles, before.roles);
  t.like(verifier.principalOf(carol.token('tcp://127.0.0.1:1000')), { caller: { user: 'carol' } });
  await addUser(dir, 'dave', []);
  t.false(await server.refreshUsers(10_500), 'within a second of the last look');
  t.true(await server.refreshUsers(11_000));
  t.false(await server.refreshUsers(12_000), 'nothing new');
  // Role keys in the file are not taken: they are the ones the process started with.
  const other = await readRoster(dir);
  await writeFile(join(dir, 'roster.json.new'), JSON.stringify({ ...other, roles: { ...other.roles, master: other.roles.client } }), { mode: 0o600 });
  await rename(join(dir, 'roster.json.new'), join(dir, 'roster.json'));
  t.false(await server.refreshUsers(13_000));
  t.deepEqual(server.roster.roles, before.roles);
});

test('roles: every message type is sent by some role; a client may not order chunkservers about or act as a standby', (t) => {
  for (const type of Object.keys(protocol) as MessageType[]) t.true(ROLES.some((role) => maySend(role, type)), type);
  for (const type of ['chunk.apply', 'chunk.setVersion', 'chunk.copyFrom', 'chunk.revokeLease', 'chunkserver.report', 'standby.append', 'master.attachStandby', 'master.snapshotPiece', 'master.heartbeat', 'master.chunkReport', 'admin.crashActor', 'master.balance', 'master.checkpoint'] as const) {
    t.false(maySend('client', type), type);
  }
  for (const type of ['master.balance', 'master.checkpoint'] as const) t.true(maySend('operator', type), `operator ${type}: the cluster-wide operations are the operator's`);
  for (const type of ['chunk.setVersion', 'chunk.copyFrom', 'standby.append'] as const) t.false(maySend('chunkserver', type), `chunkserver ${type}`);
  t.false(maySend('master', 'chunk.apply'), 'only a primary applies on a secondary');
  t.true(maySend('operator', 'admin.blockEventLoop'));
  t.is(serverRoleOf('standby.append'), 'master');
  t.is(serverRoleOf('chunkserver.report'), 'chunkserver');
  t.is(serverRoleOf('admin.crashActor'), undefined);
});

test('the ZAP verdict: the roster’s keys are admitted with their role, anything else refused', async (t) => {
  const dir = await keysDir(t);
  const roster = await readRoster(dir);
  const keys = new Map(ROLES.map((role) => [roster.roles[role].curve, role]));
  const z85Decode = (text: string) => {
    const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
    const out: number[] = [];
    for (let i = 0; i < text.length; i += 5) {
      let value = 0;
      for (let j = 0; j < 5; j++) value = value * 85 + alphabet.indexOf(text[i + j]!);
      out.push((value >>> 24) & 255, (value >>> 16) & 255, (value >>> 8) & 255, value & 255);
    }
    return Buffer.from(out);
  };
  const request = (key: Buffer, over: Partial<ZapRequest> = {}): ZapRequest => ({
    version: '1.0', requestId: Buffer.from('1'), domain: ZAP_DOMAIN, address: '127.0.0.1', mechanism: 'CURVE', credentials: [key], ...over,
  });
  const chunkserver = z85Decode(roster.roles.chunkserver.curve);
  t.deepEqual(judge(request(chunkserver), keys), { status: '200', text: 'OK', userId: 'chunkserver' });
  t.is(judge(request(z85Decode(curveKeyPair().publicKey)), keys).text, 'unknown key');
  t.is(judge(request(chunkserver, { mechanism: 'NULL', credentials: [] }), keys).status, '400');
  t.is(judge(request(chunkserver, { domain: 'other' }), keys).status, '400');
  t.is(judge(request(chunkserver, { version: '2.0' }), keys).status, '400');
  t.is(judge(request(chunkserver.subarray(0, 31)), keys).status, '400');
});

test('the ZooKeeper ACL: members (the digest) may do anything, anyone may read, and it holds no secret', (t) => {
  const acl = membersOnlyAcl('ofs:s3cret');
  t.is(acl.length, 2);
  t.deepEqual(acl[1], { perms: 1, scheme: 'world', auth: 'anyone' });
  t.like(acl[0], { scheme: 'digest', auth: 'ofs:Evdln7CnlTR37ThyVqbPisYgJi8=' });
  t.false(JSON.stringify(acl).includes('s3cret'));
});
