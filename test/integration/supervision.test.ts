import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Role } from '../../src/security/roles.js';
import { clusterFor, patternBytes, sha256 } from '../helpers/cluster.js';

// Inherited by the cluster's processes: lets this test crash single actors on purpose.
process.env.OFS_FAULT_INJECTION = '1';

test('actors that crash inside a live process are restarted by nact supervision; the process and its data carry on', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: 256 * 1024, masters: 2 });
  const rpc = await cluster.rpc('test-fault-injector', 'operator');
  t.teardown(() => rpc.close());
  const data = patternBytes(700_000, 3);
  await client.write('/sup/file', data);
  const before = await cluster.file();
  const active = (await client.status()).master.address;
  const chunk = (await client.stat('/sup/file')).chunks[0]!;

  const crashes: [string, string, Role][] = [
    [active, 'lease-manager', 'master'],
    [active, 'replication-manager', 'master'],
    [active, 'master', 'master'],
    ...chunk.replicas.map((r) => [r.address, `chunk-${chunk.chunkId}`, 'chunkserver'] as [string, string, Role]),
  ];
  for (const [round, [address, actor, peer]] of crashes.entries()) {
    const { body } = await rpc.call(address, 'admin.crashActor', { actor }, { peer });
    t.is(body.crashed, actor);
    // Writes and reads go on through the restarted actor: each round's bytes differ from the last's.
    const more = patternBytes(300_000, round + 10);
    await client.write('/sup/file', more, { offset: 100_000 });
    more.copy(data, 100_000);
    t.is(sha256(await client.read('/sup/file')), sha256(data), `after crashing ${actor}`);
  }
  // Each crash really happened and was handled by supervision (the logs say so)...
  const logs = (await Promise.all(before.processes.map((p) => readFile(join(cluster.dir, 'logs', `${p.id}.log`), 'utf8')))).join('\n');
  for (const [, actor] of crashes) t.regex(logs, new RegExp(`injected crash of actor ${actor}`), actor);
  t.regex(logs, /actor crashed: resumed with its state/);
  t.regex(logs, /actor crashed: restarted from its initial state/);
  // ...and no process went down for it.
  const after = await cluster.file();
  t.deepEqual(after.processes.map((p) => p.pid), before.processes.map((p) => p.pid), 'no process died or was restarted');
  const unknown = await rpc.call(active, 'admin.crashActor', { actor: 'nobody' }, { peer: 'master' }).catch((err: Error) => err);
  t.regex((unknown as Error).message, /no actor named nobody/);
});
