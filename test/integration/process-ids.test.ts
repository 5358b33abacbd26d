import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clusterFor } from '../helpers/cluster.js';

test('cluster.json, ofs status and the logs name each process by the same id', async (t) => {
  const { cluster } = await clusterFor(t, { masters: 2, chunkservers: 3 });
  const file = await cluster.file();
  const listed = (role: string) => file.processes.filter((p) => p.role === role).map((p) => p.id).sort();

  const status = JSON.parse((await cluster.ofs(['status', '--json'])).stdout.toString());
  t.deepEqual([status.master.id, ...status.standby.map((s: { id: string }) => s.id)].sort(), listed('master'));
  t.deepEqual(status.chunkservers.map((c: { id: string }) => c.id).sort(), listed('chunkserver'));

  // Each role's log file is named by its id, and every line it logged carries that id.
  for (const p of file.processes.filter((p) => p.role !== 'zookeeper')) {
    const lines = (await readFile(join(cluster.dir, 'logs', `${p.id}.log`), 'utf8')).split('\n').filter((l) => l.startsWith('{'));
    t.true(lines.length > 0, `${p.id} logged`);
    t.deepEqual([...new Set(lines.map((l) => JSON.parse(l).id))], [p.id], `every line of logs/${p.id}.log`);
  }

  const text = (await cluster.ofs(['status'])).stdout.toString();
  for (const id of [...listed('master'), ...listed('chunkserver')]) t.true(text.includes(id), `ofs status names ${id}`);
});
