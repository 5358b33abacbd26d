import type { Role } from '../../src/security/roles.js';
import test from 'ava';
import { ChaosWorkload, chaosCluster, probeWrite, settle, sleep, startChaos } from '../helpers/chaos.js';

// Inherited by the cluster's processes: lets the test crash single actors on purpose.
process.env.OFS_FAULT_INJECTION = '1';

const MASTER_ACTORS = ['master', 'lease-manager', 'replication-manager'];

// Not whole processes but single actors inside live ones: nact supervision
// must restart each (or resume it) while the process, its other actors and
// the clients carry on.
test('crashing single actors inside live masters and chunkservers, under writes and reads: nothing acknowledged is lost', async (t) => {
  const run = startChaos(t, { rounds: 20, budgetMs: 90_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: 4, masters: 2, replication: 3, chunkSize: 256 * 1024 });
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), { root: '/chaos' });
  const schedule = run.rng.fork('faults');
  const rpc = await cluster.rpc('chaos-actor-crasher', 'operator');
  t.teardown(() => rpc.close());
  await workload.acksAfter(0, 5);
  const pids = (await cluster.file()).processes.map((p) => p.pid);

  await run.eachRound(async (round) => {
    await sleep(schedule.int(200, 2000));
    const status = await client.status();
    let address: string;
    let actor: string;
    let peer: Role = 'master';
    if (schedule.chance(0.4)) {
      address = status.master.address;
      actor = schedule.sample(MASTER_ACTORS, 1)[0]!;
    } else {
      // A replica actor of a chunk some workload file has.
      const files = workload.live();
      const file = files[schedule.int(0, files.length - 1)]!;
      const chunks = (await client.stat(file.path).catch(() => undefined))?.chunks.filter((c) => c.replicas.length > 0) ?? [];
      if (chunks.length === 0) return;
      const chunk = chunks[schedule.int(0, chunks.length - 1)]!;
      const replica = chunk.replicas[schedule.int(0, chunk.replicas.length - 1)]!;
      address = replica.address;
      actor = `chunk-${chunk.chunkId}`;
      peer = 'chunkserver';
    }
    const crashed = await rpc.call(address, 'admin.crashActor', { actor }, { peer }).then(
      () => true,
      (err: Error) => (t.log(`round ${round}: ${actor} at ${address} not crashed: ${err.message}`), false),
    );
    if (crashed) run.faults.record('crash-actor', actor, address);
    t.log(`round ${round}: ${actor} crashed; a new file then written in ${await probeWrite(client, `/probe/round-${round}`)} ms`);
  });

  const after = (await cluster.file()).processes.map((p) => p.pid);
  t.deepEqual(after, pids, 'no process died: supervision handled every crash inside its process');
  await settle(run, cluster, client, workload, { root: '/chaos', replication: 3 });
});
