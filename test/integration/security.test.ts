import { chmod, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Dealer } from 'zeromq';
import ZooKeeper from 'zookeeper';
import { OfsClient } from '../../src/client/ofs-client.js';
import { OfsError } from '../../src/core/errors.js';
import { initKeys, readChunkTokenKey, readKeyFile, readRoster, readZkDigest } from '../../src/security/keys.js';
import { ROLES } from '../../src/security/roles.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import { findActiveMaster } from '../../src/zk/election.js';
import { CHUNKSERVERS_PATH, EPOCH_PATH, MASTERS_PATH } from '../../src/zk/paths.js';
import { connectZk } from '../../src/zk/session.js';
import { toOfsZkError, zkErrorCode, ZK } from '../../src/zk/zk-errors.js';
import { patternBytes, runOfs, sha256, TestCluster } from '../helpers/cluster.js';

// Each refusal of a secure cluster (the default of `ofs cluster up`), on one cluster.
let cluster: TestCluster;
let client: OfsClient;
let scratch: string;

/** A refusal must come at once, not at a call's timeout. */
const PROMPT_MS = 5000;

test.before(async () => {
  cluster = await TestCluster.start({ masters: 2, chunkSize: 256 * 1024 });
  client = await cluster.client();
  await client.write('/secure/file', patternBytes(300_000, 5));
  scratch = await mkdtemp(join(tmpdir(), 'ofs-security-'));
});

test.after.always(async () => {
  await client?.close();
  await cluster?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** How long `promise` takes to reject, and with what. */
async function refusal(promise: Promise<unknown>): Promise<{ error: OfsError; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => new OfsError('EINTERNAL', 'it was not refused'),
    (err: OfsError) => err,
  );
  return { error, ms: Date.now() - started };
}

test('the key files (the chunk token key among them) are mode 0600 and no log line of any process holds a secret', async (t) => {
  const keys = cluster.keys!;
  t.truthy(keys, 'cluster up made keys');
  const secrets = [(await readZkDigest(keys)).split(':')[1]!, (await readChunkTokenKey(keys)).toString('hex')];
  for (const role of ROLES) {
    const key = await readKeyFile(keys, role); // refuses a file others may read
    secrets.push(key.curve.secretKey, key.sign.secretKey);
  }
  const logs = join(cluster.dir, 'logs');
  const text = (await Promise.all((await readdir(logs)).map((name) => readFile(join(logs, name), 'utf8')))).join('\n');
  t.true(text.length > 0);
  for (const secret of secrets) t.false(text.includes(secret), 'a secret in the logs');
});

test('no key: a client without keys is refused at once with EACCES saying what to pass, and the CLI says so too', async (t) => {
  const plain = await OfsClient.connect({ zk: cluster.zk, retryForMs: 20_000 });
  t.teardown(() => plain.close());
  const { error, ms } = await refusal(plain.read('/secure/file'));
  t.is(error.code, 'EACCES', error.message);
  t.regex(error.message, /refused the connection: it requires CURVE security: pass --keys DIR or set OFS_KEYS/);
  t.true(ms < PROMPT_MS, `refused after ${ms} ms`);

  const cli = await runOfs(['ls', '/secure'], { zk: cluster.zk, timeoutMs: 20_000 });
  t.is(cli.code, 1);
  t.regex(cli.stderr, /^ofs ls: .*requires CURVE security.*\(EACCES\)\n$/);
});

test('an unknown key: a client key the cluster never issued is refused by the ZAP handler, at once', async (t) => {
  // A client key from elsewhere, with the cluster's public keys beside it: only the client key is foreign.
  const foreign = join(scratch, 'foreign');
  await initKeys(foreign);
  const roster = await readRoster(cluster.keys!);
  const own = await readRoster(foreign);
  await writeFile(join(foreign, 'roster.json'), JSON.stringify({ roles: { ...roster.roles, client: own.roles.client } }));
  const stranger = await OfsClient.connect({ zk: cluster.zk, keys: foreign });
  t.teardown(() => stranger.close());
  const { error, ms } = await refusal(stranger.list('/secure'));
  t.is(error.code, 'EACCES', error.message);
  t.regex(error.message, /does not know this process’s CURVE key/);
  t.true(ms < PROMPT_MS, `refused after ${ms} ms`);
  t.true((await cluster.logLines('master-0', /refused a connection: its CURVE key is not the cluster’s/)) + (await cluster.logLines('master-1', /refused a connection/)) > 0);
});

test('another cluster’s keys: the handshake fails (the servers hold other keys), at once', async (t) => {
  const other = join(scratch, 'other');
  await initKeys(other);
  const stranger = await OfsClient.connect({ zk: cluster.zk, keys: other });
  t.teardown(() => stranger.close());
  const { error, ms } = await refusal(stranger.list('/secure'));
  t.is(error.code, 'EACCES', error.message);
  t.regex(error.message, /the CURVE handshake failed/);
  t.true(ms < PROMPT_MS, `refused after ${ms} ms`);
});

test('the wrong role: a client key may not send chunkserver-to-chunkserver, master-to-chunkserver or standby messages, and nothing changes', async (t) => {
  const rpc = new RpcClient('test-impostor', () => 1_000_000, await cluster.identity('client'));
  t.teardown(() => rpc.close());
  const chunk = (await client.stat('/secure/file')).chunks[0]!;
  const replica = chunk.replicas[0]!;
  const status = await client.status();
  const refusals = [
    rpc.call(replica.address, 'chunk.apply', { chunkId: chunk.chunkId, version: chunk.version, serial: 1, padded: false, offset: 0, length: 4 }, { data: [Buffer.from('evil')] }),
    rpc.call(replica.address, 'chunk.setVersion', { chunkId: chunk.chunkId, version: chunk.version + 5 }),
    rpc.call(replica.address, 'chunk.copyFrom', { chunkId: chunk.chunkId, version: chunk.version, source: replica.address }),
    rpc.call(status.master.address, 'standby.append', { events: [] }),
    rpc.call(status.master.address, 'master.attachStandby', { id: 'impostor', address: 'tcp://127.0.0.1:1' }),
    rpc.call(status.master.address, 'master.heartbeat', { id: 'impostor', address: 'tcp://127.0.0.1:1', used: 0, free: 1, capacity: 1, chunkCount: 0, leases: [] }),
    rpc.call(status.master.address, 'admin.crashActor', { actor: 'master' }, { peer: 'master' }),
  ];
  const types = ['chunk.apply', 'chunk.setVersion', 'chunk.copyFrom', 'standby.append', 'master.attachStandby', 'master.heartbeat', 'admin.crashActor'];
  for (const [i, call] of refusals.entries()) {
    const { error } = await refusal(call);
    t.is(error.code, 'EACCES', `${types[i]}: ${error.message}`);
    t.regex(error.message, new RegExp(`${types[i]!.replace('.', '\\.')} refused by .*: a client may not send it`));
  }
  // The same key may do what clients do, and the chunk is as it was.
  const token = await cluster.token(chunk.chunkId, chunk.version, 'read');
  t.is((await rpc.call(replica.address, 'chunk.read', { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: 10, token })).body.length, 10);
  const after = await client.stat('/secure/file');
  t.is(after.chunks[0]!.version, chunk.version);
  t.is(sha256(await client.read('/secure/file')), sha256(patternBytes(300_000, 5)));
  t.is((await client.status()).standby.length, status.standby.length, 'no standby attached');
});

test('a request without a role token, or with one signed for another server, is refused even over an admitted key', async (t) => {
  const identity = (await cluster.identity('chunkserver'))!;
  const chunk = (await client.stat('/secure/file')).chunks[0]!;
  const [a, b] = chunk.replicas;
  // A chunkserver replaying a master's token it received, at another chunkserver: here, a token for
  // `a` sent to `b`. The RpcClient signs for the address it calls, so the forgery is made by hand.
  const forged = identity.token(a!.address);
  const socket = new Dealer({ linger: 0, receiveTimeout: PROMPT_MS, ...identity.clientOptions('chunkserver') });
  t.teardown(() => socket.close());
  socket.connect(b!.address);
  const read = { chunkId: chunk.chunkId, version: chunk.version, offset: 0, length: 1 };
  for (const auth of [undefined, forged]) {
    await socket.send(Buffer.from(JSON.stringify({ type: 'chunk.read', id: 'r-1', epoch: 0, from: 'replayer', body: read, ...(auth && { auth }) })));
    const [header] = await socket.receive();
    const reply = JSON.parse(header!.toString()) as { type: string; body: { code: string; message: string } };
    t.is(reply.type, 'error');
    t.is(reply.body.code, 'EACCES');
    t.regex(reply.body.message, /no valid role token/);
  }
});

test('ZooKeeper: without the digest anyone may read (clients find the master), but not register, elect or move the epoch (NOAUTH)', async (t) => {
  const outsider = await connectZk(cluster.zk);
  t.teardown(() => outsider.close());
  t.truthy(await findActiveMaster(outsider));
  const { constants } = ZooKeeper;
  const writes: [string, () => Promise<unknown>][] = [
    ['register a chunkserver', () => outsider.client.create(`${CHUNKSERVERS_PATH}/intruder`, '{"id":"intruder","address":"tcp://127.0.0.1:1"}', constants.ZOO_EPHEMERAL)],
    ['join the election', () => outsider.client.create(`${MASTERS_PATH}/m-`, '{}', constants.ZOO_EPHEMERAL_SEQUENTIAL)],
    ['move the epoch', () => outsider.client.set(EPOCH_PATH, '999999', -1)],
  ];
  const [active] = await outsider.client.get_children(MASTERS_PATH, false);
  writes.push(['overwrite the active master’s address', () => outsider.client.set(`${MASTERS_PATH}/${active}`, '{}', -1)]);
  writes.push(['delete the active master', () => outsider.client.delete_(`${MASTERS_PATH}/${active}`, -1)]);
  for (const [what, write] of writes) {
    const err = await write().then(() => undefined, (e: unknown) => e);
    t.is(zkErrorCode(err), ZK.NOAUTH, `${what}: ${String(err)}`);
    t.is(toOfsZkError(err, what).code, 'EACCES');
  }
  t.true((await client.status()).master.epoch < 999999);

  // With the digest, a member may.
  const member = await connectZk(cluster.zk, { digest: await readZkDigest(cluster.keys!) });
  t.teardown(() => member.close());
  const path = await member.client.create(`${CHUNKSERVERS_PATH}/member-probe`, '{}', constants.ZOO_EPHEMERAL);
  t.is(path, `${CHUNKSERVERS_PATH}/member-probe`);
  await member.client.delete_(path, -1);
});

test('a chunkserver started without the keys cannot join: it is told what to pass', async (t) => {
  const dir = join(scratch, 'lonely');
  const result = await runOfs(['chunkserver', '--zk', cluster.zk, '--dir', dir], { timeoutMs: 20_000 });
  t.is(result.code, 2);
  t.regex(result.stderr, /a chunkserver needs the cluster's keys: pass --keys DIR or set OFS_KEYS .* or run it with --insecure/);
  // With a copy of the keys that others may read, it refuses them.
  const loose = join(scratch, 'loose-keys');
  await cp(cluster.keys!, loose, { recursive: true });
  await chmod(join(loose, 'chunkserver.key'), 0o644);
  const refused = await runOfs(['chunkserver', '--zk', cluster.zk, '--dir', dir, '--keys', loose], { timeoutMs: 20_000 });
  t.is(refused.code, 1);
  t.regex(refused.stderr, /chunkserver\.key may be read by others \(mode 644\): chmod 600 it \(EACCES\)/);
});
