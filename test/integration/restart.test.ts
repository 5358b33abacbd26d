import test from 'ava';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { clusterFor, patternBytes, runOfs, sha256, TestCluster, waitFor } from '../helpers/cluster.js';

const CHUNK = 256 * 1024;

test('a chunkserver killed with -9 is restarted on its data and its replicas count again', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1 });
  const data = patternBytes(3 * CHUNK + 1, 11);
  await client.write('/restart/cs', data);

  const oldPid = await cluster.kill('chunkserver-0');
  const dirs = await cluster.chunkserverDirs();
  const victim = [...dirs].find(([, dir]) => dir.endsWith('chunkserver-0'))![0];
  // Dead: its replicas drop out of the master's view...
  await waitFor('the master to drop the dead chunkserver', async () => {
    const stat = await client.stat('/restart/cs');
    return stat.chunks.every((c) => !c.replicas.some((r) => r.id === victim));
  });
  // ...and the data stays readable from the other two.
  t.is(sha256(await client.read('/restart/cs')), sha256(data));

  // Restarted by the supervisor on the same directory: its chunks count again.
  await waitFor('a new chunkserver-0 process', async () => (await cluster.process('chunkserver-0')).pid !== oldPid);
  await waitFor('every chunk back at 3 replicas', async () => {
    const stat = await client.stat('/restart/cs');
    return stat.chunks.every((c) => c.replicas.length === 3 && c.replicas.some((r) => r.id === victim));
  });
  t.is(sha256(await client.read('/restart/cs')), sha256(data));
});

test('a master killed with -9 comes back with its namespace, and chunk locations from reports', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1 });
  const data = patternBytes(2 * CHUNK + 77, 12);
  await client.mkdir('/m/dir', { parents: true });
  await client.write('/m/dir/file', data);
  await client.rename('/m/dir/file', '/m/dir/renamed');

  const oldPid = await cluster.kill('master-0');
  await waitFor('a new master-0 process', async () => (await cluster.process('master-0')).pid !== oldPid);

  // The client finds the restarted master by itself and waits for chunk reports.
  t.deepEqual((await client.list('/m/dir')).map((e) => e.name), ['renamed']);
  t.is(sha256(await client.read('/m/dir/renamed')), sha256(data));
  const stat = await client.stat('/m/dir/renamed');
  t.true(stat.chunks.every((c) => c.replicas.length === 3));
});

test('two masters: one is active, the other stands by, attached and in sync', async (t) => {
  const cluster = await TestCluster.start({ masters: 2 });
  t.teardown(() => cluster.stop());
  const status = async () => JSON.parse((await cluster.ofs(['status', '--json'])).stdout.toString());
  const inSync = (s: { standby: { lag: number | null; inSync: boolean }[] }) => s.standby.length === 1 && s.standby[0]!.inSync && s.standby[0]!.lag === 0;
  const first = await waitFor('the standby attached and in sync', async () => {
    const s = await status();
    return inSync(s) && s;
  });
  t.regex(first.master.id, /^master-/);
  t.not(first.standby[0].id, first.master.id);
  // An acknowledged mutation is on the standby too: it is still in sync, nothing left in flight.
  t.is((await cluster.ofs(['mkdir', '/acknowledged'])).code, 0);
  const after = await status();
  t.true(inSync(after), JSON.stringify(after.standby));
  t.is(after.master.id, first.master.id);
});

test('a cluster that fails to start leaves no directory behind', async (t) => {
  const dirs: string[] = [];
  // `cluster up` refuses the chunk size and exits.
  await t.throwsAsync(TestCluster.start({ chunkSize: 1, seed: async (dir) => void dirs.push(dir) }), { message: /cluster up exited/ });
  // The seed step fails before anything starts.
  await t.throwsAsync(TestCluster.start({ seed: async (dir) => { dirs.push(dir); throw new Error('no seed'); } }), { message: 'no seed' });
  t.is(dirs.length, 2);
  for (const dir of dirs) t.false(existsSync(dir), dir);
});

test('ZooKeeper not running: a clear error within seconds, not a hang', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
  const started = Date.now();
  const result = await runOfs(['ls', '/'], { zk: `127.0.0.1:${port}`, timeoutMs: 30_000 });
  const elapsed = Date.now() - started;
  t.is(result.code, 1);
  t.regex(result.stderr, new RegExp(`cannot reach ZooKeeper at 127\\.0\\.0\\.1:${port}`));
  t.true(elapsed < 15_000, `took ${elapsed} ms`);
});
