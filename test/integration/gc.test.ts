import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { clusterFor, patternBytes, sha256, waitFor } from '../helpers/cluster.js';

test('rm keeps a file in the trash for undelete; after --gc-interval GC removes it and its chunk files', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: 256 * 1024, masters: 1, gcIntervalMs: 3000 });
  const data = patternBytes(600_000, 5);
  await client.write('/gc/file', data);
  const chunkIds = (await client.stat('/gc/file')).chunks.map((c) => c.chunkId);

  t.is((await cluster.ofs(['rm', '/gc/file'])).code, 0);
  await t.throwsAsync(client.stat('/gc/file'), { message: /does not exist/ });
  const undelete = await cluster.ofs(['undelete', '/gc/file']);
  t.is(undelete.code, 0, undelete.stderr);
  t.is(sha256(await client.read('/gc/file')), sha256(data), 'undelete brings back the bytes');

  await client.delete('/gc/file');
  const onDisk = async () => {
    const dirs = [...(await cluster.chunkserverDirs()).values()];
    const files = (await Promise.all(dirs.map((d) => readdir(join(d, 'chunks'))))).flat();
    return chunkIds.filter((id) => files.includes(`${id}.data`)).length;
  };
  t.is(await onDisk(), chunkIds.length, 'replicas stay while the file is in the trash');
  // The trash is the master's, listed by the superuser only.
  const operator = await cluster.client('operator');
  t.teardown(() => operator.close());
  await waitFor('GC to empty the trash', async () => (await operator.list('/.trash')).length === 0, 30_000);
  const gone = await cluster.ofs(['undelete', '/gc/file']);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /not in the trash/);
  await waitFor('the chunk files to be deleted through heartbeats', async () => (await onDisk()) === 0, 30_000);
});
