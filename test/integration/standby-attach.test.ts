import test, { type ExecutionContext } from 'ava';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCheckpoint } from '../../src/storage/checkpoint.js';
import { TestCluster, waitFor } from '../helpers/cluster.js';
import { seedFileName, seedPieces } from '../helpers/seed-namespace.js';
import { activeMaster, waitForNewActiveWithStandby } from '../helpers/workload.js';

/** Six pieces of 2,000 entries and more: the attach below cannot be one message. */
const FILES = 12_000;
/** The test cluster's chunk size (its default). */
const CHUNK_BYTES = 256 * 1024;
/** Chunks of one file whose snapshot entry alone would pass a message's 1 MiB: it goes in "+" entries (namespace-snapshot.ts). */
const HUGE_FILE_CHUNKS = 60_000;

/**
 * A standby restarted under load attaches again while the active acknowledges
 * writes (resuming from its own journal, or, its disk lost, pulling the whole
 * namespace piece by piece), then takes over with every acknowledged write.
 */
async function restartStandbyUnderLoad(t: ExecutionContext, diskLost: boolean): Promise<void> {
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
  // A write far past the end: every chunk up to it is allocated, and the file's chunk list is 60,001 long.
  const hugeTail = Buffer.from('the tail of a file of 60,001 chunks');
  await client.write('/huge', '');
  await client.write('/huge', hugeTail, { offset: HUGE_FILE_CHUNKS * CHUNK_BYTES });
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
  // Writes acknowledged now are in the standby's journal too: it has events of its own to resume from.
  const ackedInSync = acked.length;
  await waitFor('writes acknowledged with the standby in sync', async () => acked.length >= ackedInSync + 3);
  const installed = () => cluster.logLines(standby, /installed the active master’s snapshot/);
  const resumed = () => cluster.logLines(standby, /resuming from our own journal/);
  const [installedBefore, resumedBefore] = [await installed(), await resumed()];
  if (diskLost) {
    // Stopped while its checkpoints and journal go, then killed: it restarts with nothing but its id.
    await cluster.kill(standby, 'SIGSTOP');
    const { dir } = await cluster.process(standby);
    for (const part of ['journal', 'checkpoints']) await rm(join(dir, part), { recursive: true, force: true });
  }
  await cluster.kill(standby);
  const killedAt = Date.now();
  await waitFor('the restarted standby to attach and be in sync again', async () => (await cluster.logLines(active, /"standby in sync"/)) > inSyncBefore, 60_000);
  t.deepEqual(
    [(await installed()) - installedBefore, (await resumed()) - resumedBefore],
    diskLost ? [1, 0] : [0, 1],
    diskLost ? 'with its disk lost, it installed a snapshot' : 'it resumed from its own journal: no snapshot',
  );
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
  const huge = await client.stat('/huge', { chunks: false });
  t.is(huge.chunkCount, HUGE_FILE_CHUNKS + 1, 'the new active holds the whole chunk list of the file of 60,001 chunks');
  t.is((await client.read('/huge', { offset: HUGE_FILE_CHUNKS * CHUNK_BYTES })).toString(), hugeTail.toString());
  const missing = [];
  for (const { path } of acked) if (!(await client.read(path).then((b) => b.toString() === path, () => false))) missing.push(path);
  t.deepEqual(missing, [], `${acked.length} acknowledged writes, all readable after the takeover`);
}

test.serial('a standby restarted under load resumes from its own journal while the active acknowledges writes, then takes over with all of them', restartStandbyUnderLoad, false);

test.serial('a standby that lost its disk pulls a namespace of many pieces under load, then takes over with all of it', restartStandbyUnderLoad, true);

test.serial('a former active master whose journal holds an event the new active never had takes a snapshot, not a stream that would keep that event', async (t) => {
  const cluster = await TestCluster.start({ masters: 2 });
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());
  await waitForNewActiveWithStandby(client, 'none');
  await client.mkdir('/before');
  const old = await activeMaster(cluster, client);
  const standby = [...(await cluster.roleIds('master')).keys()].find((id) => id !== old.processId)!;

  // The standby stops with a batch of the active's events in flight to it (a mkdir). The active sends
  // the next batch only once that one is answered or has timed out (2 s): a second mkdir journaled
  // meanwhile, with the active killed at once, is an event the standby never receives.
  await cluster.kill(standby, 'SIGSTOP');
  const journal = join((await cluster.process(old.processId)).dir, 'journal');
  const journaled = (path: string) => async () => {
    for (const name of await readdir(journal)) if ((await readFile(join(journal, name))).includes(`"${path}"`)) return true;
    return false;
  };
  const unacknowledged = await Promise.all([0, 1].map(() => cluster.client()));
  const started = Date.now();
  const outcomes: Promise<boolean>[] = [];
  for (const [i, path] of ['/sent', '/ghost'].entries()) {
    outcomes.push(unacknowledged[i]!.mkdir(path).then(() => true, () => false));
    await waitFor(`the active to journal the mkdir of ${path}`, journaled(path), 10_000);
  }
  // Stopped, not killed: it must not restart and attach before the new active has an event of its own there.
  await cluster.kill(old.processId, 'SIGSTOP');
  t.true(Date.now() - started < 1_500, `the active stopped ${Date.now() - started} ms after the first mkdir: before its append to the standby timed out`);
  await Promise.all(unacknowledged.map((c) => c.close()));
  t.deepEqual(await Promise.all(outcomes), [false, false], 'neither mkdir was acknowledged');
  await cluster.kill(standby, 'SIGCONT');
  await waitFor('the standby to take over', async () => (await client.status().catch(() => undefined))?.master.id !== old.masterId, 90_000);
  // The new active's own event where the old one journaled /ghost: the histories differ there.
  await client.mkdir('/after');
  await cluster.kill(old.processId);
  await waitForNewActiveWithStandby(client, old.masterId, 90_000);
  t.is(await cluster.logLines(old.processId, /resuming from our own journal/), 0, 'the former active did not resume from its journal');

  // The former active takes over again: it must hold the new active's history, not its own.
  const current = await activeMaster(cluster, client);
  await cluster.kill(current.processId);
  await waitForNewActiveWithStandby(client, current.masterId, 90_000);
  t.is((await activeMaster(cluster, client)).processId, old.processId);
  // `/sent` reached the standby before the active died, and may be there; `/ghost` never did.
  t.deepEqual((await client.list('/')).map((e) => e.name).filter((n) => n !== 'sent').sort(), ['after', 'before']);
});
