import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { dispatch, query, spawnStateless, start, stop, type Ref } from 'nact';
import { ofsQuery, spawnOfsClient, type OfsClientMessage } from '../../src/client/ofs-client-actor.js';
import type { Result } from '../../src/util/result.js';
import { OFS_BIN, patternBytes, sha256, TestCluster } from '../helpers/cluster.js';

const ROOT = dirname(dirname(OFS_BIN));
const ASK_MS = 30_000;
let cluster: TestCluster;
let system: Ref<never>;
let ofs: Ref<OfsClientMessage>;

test.before(async () => {
  cluster = await TestCluster.start({ chunkSize: 256 * 1024, masters: 1 });
  system = start();
  ofs = spawnOfsClient(system, { zk: cluster.zk, keys: cluster.keys });
});

test.after.always(async () => {
  if (ofs) stop(ofs); // closes its client (stopping the system would not)
  await cluster?.stop();
});

test('write, read, append, list, stat, rename and delete answer with their values', async (t) => {
  const data = patternBytes(3 * 256 * 1024 + 11, 5);
  t.deepEqual(await query(ofs, ofsQuery.write('/actor/a', data), ASK_MS), { ok: true, value: undefined });
  const read = await query(ofs, ofsQuery.read('/actor/a'), ASK_MS);
  t.true(read.ok && sha256(read.value) === sha256(data), 'the bytes written');
  const range = await query(ofs, ofsQuery.read('/actor/a', { offset: 256 * 1024 - 2, length: 4 }), ASK_MS);
  t.deepEqual(range, { ok: true, value: data.subarray(256 * 1024 - 2, 256 * 1024 + 2) });
  t.deepEqual(await query(ofs, ofsQuery.write('/actor/a', 'XY', { offset: 1 }), ASK_MS), { ok: true, value: undefined });
  const patched = await query(ofs, ofsQuery.read('/actor/a', { length: 4 }), ASK_MS);
  t.deepEqual(patched.ok && [...patched.value], [data[0], 88, 89, data[3]]);

  const first = await query(ofs, ofsQuery.append('/actor/log', 'one\n'), ASK_MS);
  const second = await query(ofs, ofsQuery.append('/actor/log', 'two\n'), ASK_MS);
  t.deepEqual([first, second], [{ ok: true, value: 0 }, { ok: true, value: 4 }]);

  const stat = await query(ofs, ofsQuery.stat('/actor/a'), ASK_MS);
  t.true(stat.ok);
  if (stat.ok) t.is(stat.value.size, data.length);
  t.deepEqual(await query(ofs, ofsQuery.rename('/actor/a', '/actor/b'), ASK_MS), { ok: true, value: undefined });
  const listed = await query(ofs, ofsQuery.list('/actor'), ASK_MS);
  t.deepEqual(listed.ok && listed.value.map((e) => [e.name, e.type]), [['b', 'file'], ['log', 'file']]);
  const page = await query(ofs, ofsQuery.list('/actor', { after: 'b', limit: 10 }), ASK_MS);
  t.deepEqual(page.ok && page.value.map((e) => e.name), ['log']);
  t.deepEqual(await query(ofs, ofsQuery.delete('/actor', { recursive: true }), ASK_MS), { ok: true, value: undefined });
  t.like(await query(ofs, ofsQuery.list('/actor'), ASK_MS), { ok: false, code: 'ENOENT' });
});

test('a failed call answers with its OfsError code and a message naming the path', async (t) => {
  t.like(await query(ofs, ofsQuery.stat('/nothing/here'), ASK_MS), { ok: false, code: 'ENOENT' });
  t.like(await query(ofs, ofsQuery.read('/nothing/here'), ASK_MS), { ok: false, code: 'ENOENT' });
  t.like(await query(ofs, ofsQuery.write('relative/path', 'x'), ASK_MS), { ok: false, code: 'EINVAL' });
  await query(ofs, ofsQuery.write('/err/a', 'a'), ASK_MS);
  await query(ofs, ofsQuery.write('/err/b', 'b'), ASK_MS);
  const exists = await query(ofs, ofsQuery.rename('/err/a', '/err/b'), ASK_MS);
  t.like(exists, { ok: false, code: 'EEXIST' });
  t.regex(exists.ok ? '' : exists.message, /\/err\/b/);
  t.like(await query(ofs, ofsQuery.delete('/err'), ASK_MS), { ok: false, code: 'ENOTEMPTY' });
  t.like(await query(ofs, ofsQuery.write('/err/a', 'a', { overwrite: false }), ASK_MS), { ok: false, code: 'EEXIST' });
});

test('queries run side by side: 32 appends at once each get their own offset', async (t) => {
  const records = Array.from({ length: 32 }, (_, i) => `record ${String(i).padStart(2, '0')}\n`);
  const replies = await Promise.all(records.map((r) => query(ofs, ofsQuery.append('/side/log', r), ASK_MS)));
  t.true(replies.every((r) => r.ok));
  const offsets = replies.map((r) => (r.ok ? r.value : -1));
  t.is(new Set(offsets).size, 32);
  const log = await query(ofs, ofsQuery.read('/side/log'), ASK_MS);
  const text = log.ok ? log.value.toString() : '';
  records.forEach((r, i) => t.is(text.slice(offsets[i], offsets[i]! + r.length), r));
});

test('a slow call does not hold up a quick one behind it', async (t) => {
  // The chunkservers are stopped (SIGSTOP) until the stat is answered: the write cannot finish first.
  const chunkservers = (await cluster.file()).processes.filter((p) => p.role === 'chunkserver').map((p) => p.pid);
  const resume = () => chunkservers.forEach((pid) => process.kill(pid, 'SIGCONT'));
  t.teardown(resume);
  chunkservers.forEach((pid) => process.kill(pid, 'SIGSTOP'));
  const order: string[] = [];
  const write = query(ofs, ofsQuery.write('/slow/big', patternBytes(8 * 2 ** 20, 9)), ASK_MS).then((r) => order.push(`write ${r.ok}`));
  const stat = query(ofs, ofsQuery.stat('/'), ASK_MS).then((r) => order.push(`stat ${r.ok}`));
  await stat;
  resume();
  await write;
  t.deepEqual(order, ['stat true', 'write true']);
});

test('another actor can be the sender: the Result arrives in its mailbox', async (t) => {
  const received = new Promise<Result<unknown>>((resolve) => {
    const inbox = spawnStateless(system, (reply: Result<unknown>) => resolve(reply));
    dispatch(ofs, { kind: 'write', path: '/inbox/a', data: 'from an actor', sender: inbox });
  });
  t.deepEqual(await received, { ok: true, value: undefined });
  t.deepEqual(await query(ofs, ofsQuery.read('/inbox/a'), ASK_MS), { ok: true, value: Buffer.from('from an actor') });
});

test('an unreachable ZooKeeper is an EUNAVAILABLE reply, not a crash', async (t) => {
  const lost = spawnOfsClient(system, { zk: '127.0.0.1:1', connectTimeoutMs: 500 });
  t.teardown(() => stop(lost));
  t.like(await query(lost, ofsQuery.stat('/'), ASK_MS), { ok: false, code: 'EUNAVAILABLE' });
  // It tries again at the next message (waiting out the connect timeout again) rather than keep the first failure.
  const startedAt = Date.now();
  t.like(await query(lost, ofsQuery.stat('/'), ASK_MS), { ok: false, code: 'EUNAVAILABLE' });
  t.true(Date.now() - startedAt >= 400, `a second attempt to connect took ${Date.now() - startedAt} ms`);
});

test("the README's actor client example runs as written", async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const example = /## The actor client[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(example, 'README has the example');
  // Inside the package, so that `from 'ofs'` resolves to it (a package may import itself by its name).
  const script = join(ROOT, 'dist', `readme-actor-example-${process.pid}.mjs`);
  await writeFile(script, example!);
  t.teardown(() => rm(script, { force: true }));
  const { stdout } = await promisify(execFile)(process.execPath, [script], { env: { ...process.env, OFS_ZK: cluster.zk, OFS_KEYS: cluster.keys }, timeout: 60_000 });
  t.deepEqual(stdout.trim().split('\n'), ['hello, OFS', 'ENOENT', 'appended at 0']);
});
