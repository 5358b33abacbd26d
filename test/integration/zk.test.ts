import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OfsError } from '../../src/core/errors.js';
import { findActiveMaster, listMasters, MasterElection, watchMasters } from '../../src/zk/election.js';
import { incrementEpoch, readEpoch } from '../../src/zk/epoch.js';
import { CHUNKSERVERS_PATH, ensurePaths, MASTERS_PATH, ZK_ROOT } from '../../src/zk/paths.js';
import { listChunkservers, registerChunkserver, watchChunkservers, type MemberInfo } from '../../src/zk/registry.js';
import { spawnWithoutInheritedSockets } from '../../src/cluster/child-process.js';
import { findJava, findZooKeeperJar, writeServerConfig } from '../../src/cluster/zookeeper-server.js';
import { connectZk, DEFAULT_SESSION_TIMEOUT_MS, type ConnectOptions, type ZkSession } from '../../src/zk/session.js';
import { freePort, startTestZooKeeper, type TestZooKeeper } from '../helpers/zookeeper.js';

let zk: TestZooKeeper;

test.before(async () => {
  zk = await startTestZooKeeper();
});

test.after.always(async () => {
  await zk?.stop();
});

/** A session closed when the test ends. */
async function session(t: ExecutionContext, connect: string, options?: ConnectOptions): Promise<ZkSession> {
  const s = await connectZk(connect, options);
  t.teardown(() => s.close());
  return s;
}

/**
 * Tests in a file run concurrently against one server: each gets its own
 * chroot (`host:port/name`), so that /ofs/... is its own.
 */
async function namespace(name: string): Promise<string> {
  const root = await connectZk(zk.connect);
  await root.client.create(`/${name}`, '', 0);
  await root.close();
  return `${zk.connect}/${name}`;
}

/** Resolves with the first value `subscribe` reports that satisfies `accept`. */
function until<T>(subscribe: (cb: (value: T) => void) => { stop(): void }, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let watch: { stop(): void } | undefined;
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      watch?.stop();
      reject(new Error(`condition not met within ${timeoutMs} ms`));
    }, timeoutMs);
    watch = subscribe((value) => {
      if (done || !accept(value)) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => watch?.stop());
      resolve(value);
    });
  });
}

const ids = (members: MemberInfo[]) => members.map((m) => m.id);
const member = (id: string, port: number): MemberInfo => ({ id, address: `tcp://127.0.0.1:${port}` });

/** Compiled modules, for the child processes below (they run without a loader). */
const distModule = (path: string) => fileURLToPath(new URL(`../../src/zk/${path}`, import.meta.url));

/** Runs a script in a child node; yields its stdout lines as they come. */
function runNode(script: string) {
  // This process holds ZooKeeper sessions: see child-process.ts for why not plain spawn.
  const child = spawnWithoutInheritedSockets(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = async (matching: RegExp, timeoutMs = 15_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find((l) => matching.test(l));
      if (found) return found;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no line matching ${matching} from child; got ${JSON.stringify(lines)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  return { child, line, exited, lines };
}

test('connect and ensurePaths, twice and concurrently, leave the three parents', async (t) => {
  const connect = await namespace('paths');
  const [a, b] = await Promise.all([session(t, connect), session(t, connect)]);
  t.is(a.state, 'connected');
  t.regex(a.id, /^[0-9a-f]+$/);
  // The shipped zoo.cfg grants what every OFS process asks for by default.
  t.is(a.sessionTimeoutMs, DEFAULT_SESSION_TIMEOUT_MS);
  await Promise.all([ensurePaths(a), ensurePaths(b), ensurePaths(a)]);
  t.deepEqual((await a.client.get_children(ZK_ROOT, false)).sort(), ['chunkservers', 'masters']);
  t.true(await b.client.pathExists(MASTERS_PATH, false));
  t.true(await b.client.pathExists(CHUNKSERVERS_PATH, false));

  await a.close();
  t.is(a.state, 'closed');
  await t.throwsAsync(ensurePaths(a), { instanceOf: OfsError, message: /was closed/ });
});

test('connecting to a port nobody listens on rejects with EUNAVAILABLE naming the address', async (t) => {
  const port = await freePort();
  const started = Date.now();
  const err = await t.throwsAsync(connectZk(`127.0.0.1:${port}`, { connectTimeoutMs: 1500 }), { instanceOf: OfsError });
  const elapsed = Date.now() - started;
  t.is(err?.code, 'EUNAVAILABLE');
  t.regex(err!.message, new RegExp(`cannot reach ZooKeeper at 127\\.0\\.0\\.1:${port} within 1\\.5 s`));
  t.regex(err!.message, /ofs zookeeper --dir DIR/);
  t.true(elapsed >= 1400 && elapsed < 2500, `rejected after ${elapsed} ms`);

  await t.throwsAsync(connectZk('no-port-here'), { instanceOf: OfsError, message: /bad ZooKeeper address/ });
});

test('a process whose connect fails exits by itself: nothing is left holding it', async (t) => {
  const port = await freePort();
  const started = Date.now();
  const script = `
    const { connectZk } = await import(${JSON.stringify(distModule('session.js'))});
    await connectZk('127.0.0.1:${port}', { connectTimeoutMs: 500 }).catch((err) => console.log(err.code));
  `;
  const node = runNode(script);
  const killer = setTimeout(() => node.child.kill('SIGKILL'), 10_000);
  const code = await node.exited;
  clearTimeout(killer);
  t.is(code, 0);
  t.deepEqual(node.lines, ['EUNAVAILABLE']);
  t.true(Date.now() - started < 5000, `exited after ${Date.now() - started} ms`);
});

test('a process that closes its session exits by itself, and its znode is gone at once', async (t) => {
  const connect = await namespace('clean-exit');
  const observer = await session(t, connect);
  const node = runNode(`
    const { connectZk } = await import(${JSON.stringify(distModule('session.js'))});
    const { registerChunkserver } = await import(${JSON.stringify(distModule('registry.js'))});
    const zk = await connectZk(${JSON.stringify(connect)});
    await registerChunkserver(zk, { id: 'cs-leaving', address: 'tcp://127.0.0.1:7300' });
    await zk.close();
    console.log('closed');
  `);
  const killer = setTimeout(() => node.child.kill('SIGKILL'), 10_000);
  t.is(await node.exited, 0);
  clearTimeout(killer);
  t.deepEqual(node.lines, ['closed']);
  t.deepEqual(await listChunkservers(observer), []);
});

test('registry: members list, and a watch sees one leave when its session closes', async (t) => {
  const connect = await namespace('registry');
  const [one, two, observer] = await Promise.all([session(t, connect), session(t, connect), session(t, connect)]);
  await registerChunkserver(one, { ...member('cs-1', 7001), disk: 'ssd' });
  await registerChunkserver(two, member('cs-2', 7002));

  const listed = await listChunkservers(observer);
  t.deepEqual(listed, [{ ...member('cs-1', 7001), disk: 'ssd' }, member('cs-2', 7002)]);

  const bothSeen = until<MemberInfo[]>((cb) => watchChunkservers(observer, cb), (m) => m.length === 2);
  t.deepEqual(ids(await bothSeen), ['cs-1', 'cs-2']);

  const twoGone = until<MemberInfo[]>((cb) => watchChunkservers(observer, cb), (m) => m.length === 1);
  await two.close();
  t.deepEqual(ids(await twoGone), ['cs-1']);
  t.deepEqual(ids(await listChunkservers(observer)), ['cs-1']);
});

test('registry: a watch set before /ofs exists sees the first member arrive', async (t) => {
  const connect = await namespace('registry-early');
  const [watcher, joiner] = await Promise.all([session(t, connect), session(t, connect)]);
  const calls: string[][] = [];
  let firstReport!: () => void;
  const reported = new Promise<void>((resolve) => (firstReport = resolve));
  const arrived = until<MemberInfo[]>((cb) => watchChunkservers(watcher, (m) => (calls.push(ids(m)), firstReport(), cb(m))), (m) => m.length === 1);
  // The first report, however long it takes under load (a fixed 200 ms wait failed in `npm test`).
  await Promise.race([reported, arrived]);
  t.deepEqual(calls, [[]], 'told first that there are none');
  await registerChunkserver(joiner, member('cs-early', 7200));
  t.deepEqual(ids(await arrived), ['cs-early']);
});

test('registry: the same id from two live sessions is refused, naming the id', async (t) => {
  const connect = await namespace('registry-dup');
  const [first, second] = await Promise.all([session(t, connect), session(t, connect)]);
  await registerChunkserver(first, member('cs-dup', 7003));
  // Registering again from the same session is a no-op, not a conflict.
  await registerChunkserver(first, member('cs-dup', 7003));

  const started = Date.now();
  const err = await t.throwsAsync(registerChunkserver(second, member('cs-dup', 7004), { staleWaitMs: 1500 }), { instanceOf: OfsError });
  t.is(err?.code, 'EEXIST');
  t.regex(err!.message, /"cs-dup"/);
  t.regex(err!.message, /tcp:\/\/127\.0\.0\.1:7003/);
  t.true(Date.now() - started >= 1400, 'waited for the holder to go before refusing');
  t.deepEqual(await listChunkservers(second), [member('cs-dup', 7003)]);
});

test('registry: a restarted chunkserver waits for its dead predecessor\'s znode to expire', async (t) => {
  const connect = await namespace('registry-restart');
  const node = runNode(`
    const { connectZk } = await import(${JSON.stringify(distModule('session.js'))});
    const { registerChunkserver } = await import(${JSON.stringify(distModule('registry.js'))});
    const zk = await connectZk(${JSON.stringify(connect)}, { sessionTimeoutMs: 2000 });
    await registerChunkserver(zk, { id: 'cs-phoenix', address: 'tcp://127.0.0.1:7100' });
    console.log('registered ' + zk.sessionTimeoutMs);
  `);
  t.teardown(() => void node.child.kill('SIGKILL'));
  const granted = Number((await node.line(/^registered/)).split(' ')[1]);
  node.child.kill('SIGKILL'); // no close: the znode stays until the server expires the session
  await node.exited;

  const restarted = await session(t, connect);
  t.deepEqual(ids(await listChunkservers(restarted)), ['cs-phoenix']);
  const started = Date.now();
  await registerChunkserver(restarted, member('cs-phoenix', 7101));
  const waited = Date.now() - started;
  t.true(waited >= 500 && waited < granted + 4000, `waited ${waited} ms for a ${granted} ms session to expire`);
  t.deepEqual(await listChunkservers(restarted), [member('cs-phoenix', 7101)]);
});

test('election: the first of three is active; when its session closes the next is elected', async (t) => {
  const connect = await namespace('election');
  const sessions = [await session(t, connect), await session(t, connect), await session(t, connect)];
  const elections: MasterElection[] = [];
  for (const [i, s] of sessions.entries()) elections.push(await MasterElection.join(s, member(`m${i + 1}`, 8001 + i)));
  t.deepEqual(
    elections.map((e) => e.isActive()),
    [true, false, false],
  );
  t.true(elections[0]!.sequence < elections[1]!.sequence && elections[1]!.sequence < elections[2]!.sequence);

  const observer = await session(t, connect);
  t.deepEqual(await findActiveMaster(observer), member('m1', 8001));
  t.deepEqual(ids(await listMasters(observer)), ['m1', 'm2', 'm3']);

  let firstElected = 0;
  elections[0]!.onElected(() => void firstElected++);
  let thirdElected = false;
  elections[2]!.onElected(() => void (thirdElected = true));
  const secondElected = new Promise<void>((resolve) => elections[1]!.onElected(resolve));
  const mastersAfter = until<MemberInfo[]>((cb) => watchMasters(observer, cb), (m) => m.length === 2);
  const firstLost = new Promise((resolve) => elections[0]!.onLost(resolve));

  await sessions[0]!.close();
  await secondElected;
  t.true(elections[1]!.isActive());
  t.false(elections[2]!.isActive());
  t.false(elections[0]!.isActive());
  t.is(await firstLost, 'session-ended');
  t.deepEqual(ids(await mastersAfter), ['m2', 'm3']);
  t.deepEqual(await findActiveMaster(observer), member('m2', 8002));
  t.is(firstElected, 1, 'onElected registered after election fires once, at once');
  t.false(thirdElected);

  // Resigning hands over at once too.
  const thirdElectedNow = new Promise<void>((resolve) => elections[2]!.onElected(resolve));
  await elections[1]!.resign();
  await thirdElectedNow;
  t.deepEqual(await findActiveMaster(observer), member('m3', 8003));
});

test('election: no masters means no active master', async (t) => {
  const connect = await namespace('election-empty');
  const s = await session(t, connect);
  t.is(await findActiveMaster(s), undefined); // before /ofs/masters exists
  await ensurePaths(s);
  t.is(await findActiveMaster(s), undefined);
  t.deepEqual(await listMasters(s), []);
});

test('epoch: increments are unique and monotonic under two concurrent sessions', async (t) => {
  const connect = await namespace('epoch');
  const [a, b] = await Promise.all([session(t, connect), session(t, connect)]);
  t.is(await readEpoch(a), 0); // nothing under the chroot yet, not even /ofs

  const run = async (s: ZkSession): Promise<number[]> => {
    const got: number[] = [];
    for (let i = 0; i < 15; i++) got.push(await incrementEpoch(s));
    return got;
  };
  const [fromA, fromB] = await Promise.all([run(a), run(b)]);
  for (const got of [fromA, fromB]) t.deepEqual(got, [...got].sort((x, y) => x - y), 'each session sees its epochs rise');
  const all = [...fromA, ...fromB].sort((x, y) => x - y);
  t.deepEqual(all, Array.from({ length: 30 }, (_, i) => i + 1), 'every epoch handed out exactly once');
  t.is(await readEpoch(b), 30);
  // A master whose journal holds chunk ids of later epochs (ZooKeeper's data rolled back) skips up to the first epoch above them.
  t.is(await incrementEpoch(a, 45), 45);
  t.is(await incrementEpoch(b, 45), 46, 'never below the next one');
});

test('session: cut off from ZooKeeper, it is declared lost after lostAfterDisconnectedMs', async (t) => {
  const own = await startTestZooKeeper();
  t.teardown(() => own.stop());
  const s = await session(t, own.connect, { lostAfterDisconnectedMs: 800 });
  const disconnected = new Promise<void>((resolve) => s.onDisconnected(resolve));
  const expired = new Promise((resolve) => s.onExpired(resolve));
  const ended = new Promise((resolve) => s.onEnded(resolve));

  await own.stop();
  await disconnected;
  t.is(s.state, 'disconnected');
  const started = Date.now();
  t.is(await expired, 'disconnected-too-long');
  t.is(await ended, 'disconnected-too-long');
  t.true(Date.now() - started >= 600);
  t.is(s.state, 'expired');
  await t.throwsAsync(listChunkservers(s), { instanceOf: OfsError, message: /is lost \(disconnected-too-long\)/ });
});

test('session: a process paused past its session timeout hears "expired" and steps down', async (t) => {
  const connect = await namespace('expiry');
  const node = runNode(`
    const { connectZk } = await import(${JSON.stringify(distModule('session.js'))});
    const { MasterElection } = await import(${JSON.stringify(distModule('election.js'))});
    const zk = await connectZk(${JSON.stringify(connect)}, { sessionTimeoutMs: 2000, lostAfterDisconnectedMs: Infinity });
    const election = await MasterElection.join(zk, { id: 'paused', address: 'tcp://127.0.0.1:8100' });
    zk.onExpired((reason) => console.log('expired ' + reason + ' active=' + election.isActive()));
    election.onLost((reason) => { console.log('lost ' + reason); process.exit(0); });
    console.log('joined active=' + election.isActive());
  `);
  t.teardown(() => void node.child.kill('SIGKILL'));
  t.is(await node.line(/^joined/), 'joined active=true');

  const observer = await session(t, connect);
  node.child.kill('SIGSTOP');
  // While it sleeps the server expires its session; the next candidate would now be elected.
  const deadline = Date.now() + 10_000;
  while ((await findActiveMaster(observer)) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.is(await findActiveMaster(observer), undefined);
  node.child.kill('SIGCONT');

  t.is(await node.line(/^expired/), 'expired expired active=false');
  t.is(await node.line(/^lost/), 'lost session-ended');
  t.is(await node.exited, 0);
});

test('server: a missing jar or java says what to install', (t) => {
  const jar = t.throws(() => findZooKeeperJar('/bogus/zookeeper.jar'), { instanceOf: OfsError });
  t.is(jar?.code, 'EUNAVAILABLE');
  t.regex(jar!.message, /\/bogus\/zookeeper\.jar/);
  t.regex(jar!.message, /apt-get install -y zookeeper/);
  const java = t.throws(() => findJava('/bogus/bin/java'), { instanceOf: OfsError });
  t.is(java?.code, 'EUNAVAILABLE');
  t.regex(java!.message, /JDK/);
});

test('server: the config keeps the template and sets dataDir, clientPort and ruok', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-zkcfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const template = join(dir, 'template.cfg');
  await writeFile(template, 'tickTime=500\ndataDir=/var/lib/nowhere\nclientPort=1\n4lw.commands.whitelist=srvr\n');
  const path = writeServerConfig({ dir: join(dir, 'zk'), port: 21999, template });
  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  t.deepEqual(lines, ['tickTime=500', '4lw.commands.whitelist=srvr,ruok', `dataDir=${join(dir, 'zk', 'data')}`, 'clientPort=21999']);

  const fromRepo = (await readFile(writeServerConfig({ dir: join(dir, 'repo'), port: 2181 }), 'utf8')).split('\n');
  t.true(fromRepo.includes('admin.enableServer=false'));
  t.true(fromRepo.includes('clientPort=2181'));
});
