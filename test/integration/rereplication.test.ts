import test from 'ava';
import { rm } from 'node:fs/promises';
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
  const dirs = await Promise.all(victims.map((id) => cluster.process(id)));
  await Promise.all(victims.map((id) => cluster.kill(id)));
  await Promise.all(dirs.map((p) => rm(p.dir, { recursive: true, force: true })));
  const lostAt = Date.now();
  // First the master sees the loss...
  await waitFor('the master to notice the lost replicas', async () => {
    const { summary } = await client.fsck('/rr');
    return summary.underReplicated + summary.missing > 0;
  }, 30_000);
  t.is((await client.fsck('/rr')).summary.missing, 0, 'every chunk kept at least one replica');
  // ...then the replication manager copies every chunk back to 3 replicas.
  await waitFor('fsck to report every chunk at 3 replicas', async () => {
    const { summary } = await client.fsck('/rr');
    return summary.missing === 0 && summary.underReplicated === 0 && summary.healthy === summary.chunks;
  }, 90_000);
  t.log(`re-replicated in ${Date.now() - lostAt} ms`);
  for (const file of files) t.is(sha256(await client.read(file.path)), file.sha, file.path);
  for (const chunk of (await client.fsck('/rr')).files.flatMap((f) => f.chunks)) {
    t.is(new Set(chunk.live).size, 3, `chunk ${chunk.chunkId} on 3 distinct servers`);
  }
  const fsck = await cluster.ofs(['fsck', '/rr']);
  t.is(fsck.code, 0);
  t.regex(fsck.stdout.toString(), /status: HEALTHY/);
});
