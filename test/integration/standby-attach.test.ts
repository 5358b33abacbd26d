import test from 'ava';
import { join } from 'node:path';
import { writeCheckpoint } from '../../src/storage/checkpoint.js';
import { TestCluster, waitFor } from '../helpers/cluster.js';
import { seedFileName, seedPieces } from '../helpers/seed-namespace.js';
import { waitForNewActiveWithStandby } from '../helpers/workload.js';

/** Six pieces of 2,000 entries and more: the attach below cannot be one message. */
const FILES = 12_000;

test('a standby restarted under load pulls a namespace of many pieces while the active acknowledges writes, then takes over with all of them', async (t) => {
  const cluster = await TestCluster.start({
    masters: 2,
    seed: async (dir) => {
      for (const master of ['master-0', 'master-1']) await writeCheckpoint(join(dir, master), 1, seedPieces(FILES, ['one-dir']));
    },
  });
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());
  await waitForNewActiveWithStandby(client, 'none');
  const ids = await cluster.roleIds('master');
  const activeRole = (await client.status()).master.id;
  const active = [...ids].find(([, role]) => role === activeRole)![0];
  const standby = [...ids].find(([, role]) => role !== activeRole)![0];

  // One writer all along; each file it is told is written must survive everything below.
  const acked: { path: string; at: number }[] = [];
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const path = `/during/f${i}`;
      await client.write(path, path);
      acked.push({ path, at: Date.now() });
    }
  })();

  // The first attach's line may reach the log after the status that said so.
  await waitFor('the first attach logged', async () => (await cluster.logLines(active, /"standby in sync"/)) >= 1);
  const inSyncBefore = await cluster.logLines(active, /"standby in sync"/);
  await cluster.kill(standby);
  const killedAt = Date.now();
  await waitFor('the restarted standby to install the snapshot and be in sync again', async () => (await cluster.logLines(active, /"standby in sync"/)) > inSyncBefore, 60_000);
  const attachedAt = Date.now();
  writing = false;
  await writer;
  const during = acked.filter((a) => a.at > killedAt && a.at < attachedAt).length;
  t.log(`standby back in sync ${attachedAt - killedAt} ms after kill -9; ${during} writes acknowledged meanwhile`);
  t.true(during > 0, 'the active acknowledged writes while the standby was away and attaching');

  // The standby now takes over: it must hold the seeded namespace and every acknowledged write.
  await cluster.kill(active);
  await waitForNewActiveWithStandby(client, activeRole, 90_000);
  t.is((await client.status()).master.id !== activeRole, true);
  let listed = 0;
  for await (const entry of client.entries('/big')) {
    if (entry.name !== seedFileName(listed)) t.fail(`entry ${listed} of /big is ${entry.name}`);
    listed++;
  }
  t.is(listed, FILES);
  const missing = [];
  for (const { path } of acked) if (!(await client.read(path).then((b) => b.toString() === path, () => false))) missing.push(path);
  t.deepEqual(missing, [], `${acked.length} acknowledged writes, all readable after the takeover`);
});
