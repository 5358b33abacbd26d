import test from 'ava';
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Router } from 'zeromq';
import { replicaDigests } from '../helpers/replicas.js';
import { patternBytes, sha256, TestCluster, waitFor } from '../helpers/cluster.js';

const CHUNK = 256 * 1024;

test('two of five chunkservers lost for good at once: every chunk is copied back to 3 replicas, no byte lost', async (t) => {
  const cluster = await TestCluster.start({ chunkSize: CHUNK, chunkservers: 5, masters: 1 });
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());
  const files = await Promise.all(
    [0, 1, 2, 3].map(async (i) => {
      const data = patternBytes(5 * CHUNK + 1000 * i, 40 + i);
      await client.write(`/rr/f${i}`, data);
      return { path: `/rr/f${i}`, sha: sha256(data) };
    }),
  );
  // Lose two servers for good: kill them and wipe their disks (they come back as new, empty servers).
  const victims = ['chunkserver-1', 'chunkserver-3'];
  const roleIds = await cluster.roleIds('chunkserver');
  const lost = victims.map((id) => roleIds.get(id)!);
  const dirs = await Promise.all(victims.map((id) => cluster.process(id)));
  await Promise.all(victims.map((id) => cluster.kill(id)));
  await Promise.all(dirs.map((p) => rm(p.dir, { recursive: true, force: true })));
  const lostAt = Date.now();
  // First the master sees the loss (no replica counts on a lost server any more; copies may already be under way)...
  await waitFor('the master to notice the lost replicas', async () => {
    const { files } = await client.fsck('/rr');
    return files.flatMap((f) => f.chunks).every((c) => !c.live.some((id) => lost.includes(id)));
  }, 30_000);
  t.is((await client.fsck('/rr')).summary.missing, 0, 'every chunk kept at least one replica');
  // ...then the replication manager copies every chunk back to 3 replicas.
  const healthy = await waitFor('fsck to report every chunk at 3 replicas', async () => {
    const report = await client.fsck('/rr');
    const { summary } = report;
    return summary.missing === 0 && summary.underReplicated === 0 && summary.healthy === summary.chunks && report;
  }, 90_000);
  t.log(`re-replicated in ${Date.now() - lostAt} ms`);
  // Checked on the report that said so: a later one may already show the cluster moving on.
  for (const chunk of healthy.files.flatMap((f) => f.chunks)) {
    t.is(new Set(chunk.live).size, 3, `chunk ${chunk.chunkId} on 3 distinct servers`);
  }
  for (const file of files) t.is(sha256(await client.read(file.path)), file.sha, file.path);
  const fsck = await cluster.ofs(['fsck', '/rr']);
  t.is(fsck.code, 0);
  t.regex(fsck.stdout.toString(), /status: HEALTHY/);
});

test('a chunkserver killed in the middle of copying a chunk in comes back without it: no short replica passes for current', async (t) => {
  const cluster = await TestCluster.start({ chunkSize: CHUNK, chunkservers: 4, masters: 1 });
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());
  const data = patternBytes(200_000, 51);
  await client.write('/copied', data);
  const chunk = (await client.stat('/copied')).chunks[0]!;
  const [victim, victimId] = [...(await cluster.roleIds('chunkserver'))].find(([, id]) => !chunk.replicas.some((r) => r.id === id))!;

  // A source that never answers: the copy waits on its first piece, with the new replica created on disk.
  // It holds the chunkserver key, so that the victim's CURVE handshake with it succeeds.
  const source = new Router({ linger: 0, ...(await cluster.identity('chunkserver'))?.serverOptions() });
  t.teardown(() => source.close());
  await source.bind('tcp://127.0.0.1:*');
  const { epoch } = (await client.status()).master;
  const rpc = await cluster.rpc('test-copier', 'master', () => epoch);
  t.teardown(() => rpc.close());
  const address = (await client.status()).chunkservers.find((c) => c.id === victimId)!.address;
  // A whole replica on the victim, put there by a copy if the write did not place one: the master answers the
  // restarted victim's full report (every replica it has, in one message) by listing it again, or, if it was
  // re-replicated at a new version meanwhile, by having it deleted. Either shows that the report was taken.
  await client.write('/witness', 'witness');
  const witness = (await client.stat('/witness')).chunks[0]!;
  const witnessOnVictim = async () => (await client.stat('/witness')).chunks[0]!.replicas.some((r) => r.id === victimId);
  if (!(await witnessOnVictim())) {
    const token = await cluster.token(witness.chunkId, witness.version, 'read', victimId);
    await rpc.call(address, 'chunk.copyFrom', { chunkId: witness.chunkId, version: witness.version, source: witness.replicas[0]!.address, token });
  }
  const copying = rpc.call(address, 'chunk.copyFrom', { chunkId: chunk.chunkId, version: chunk.version, source: source.lastEndpoint! }, { timeoutMs: 60_000 });
  copying.catch(() => undefined);
  const { dir } = await cluster.process(victim);
  await waitFor('the copy to be under way on disk', () => access(join(dir, 'chunks', `${chunk.chunkId}.meta`)).then(() => true, () => false), 15_000);
  await cluster.kill(victim);

  const isLive = async () => (await client.status()).chunkservers.some((c) => c.id === victimId);
  await waitFor('the master to notice the kill', async () => !(await isLive()), 30_000);
  await waitFor('the restarted chunkserver to report', isLive, 30_000);
  const witnessDeleted = () => access(join(dir, 'chunks', `${witness.chunkId}.data`)).then(() => false, () => true);
  await waitFor('its full report to be taken', async () => (await witnessOnVictim()) || witnessDeleted(), 30_000);
  const after = await client.stat('/copied');
  for (const { digests } of await replicaDigests(after, cluster)) {
    for (const [serverId, digest] of digests) t.is(digest, sha256(data), `the chunk as served by ${serverId}`);
  }
  t.false(after.chunks[0]!.replicas.some((r) => r.id === victimId), 'the interrupted copy is not a replica');
});
