import test from 'ava';
import { ChaosWorkload, chaosCluster, livePidOf, noteProblem, Pauses, probeWrite, settle, sleep, startChaos, waitForMasters } from '../helpers/chaos.js';
import { activeMaster } from '../helpers/workload.js';
import { DEFAULT_SESSION_TIMEOUT_MS } from '../../src/zk/session.js';

const REPLICATION = 3;
const LEASE_MS = 3_000;
/** The ZooKeeper session timeout of every role: a pause longer than this loses the session. */
const ZK_SESSION_MS = DEFAULT_SESSION_TIMEOUT_MS;
/** A pause outlasts both the session and the leases. */
const OUTLASTED_MS = Math.max(ZK_SESSION_MS, LEASE_MS);

// A process that stops without dying (a long GC pause, a frozen VM) is the
// hard case: when it wakes up it still believes it holds its ZooKeeper
// session, its leases, its role. SIGSTOP a chunkserver or the active master
// for longer than the session timeout and the lease, then SIGCONT it, with
// writers and readers running: it must be fenced off (epochs, versions), and
// no read may return wrong bytes.
test('SIGSTOP/SIGCONT of a chunkserver or the active master past its ZooKeeper session and its leases: no acknowledged byte lost or wrong', async (t) => {
  const run = startChaos(t, { rounds: 6, budgetMs: 150_000 });
  const { cluster, client } = await chaosCluster(t, { chunkservers: 5, masters: 2, replication: REPLICATION, chunkSize: 256 * 1024, leaseMs: LEASE_MS });
  const problems: string[] = [];
  noteProblem(t, problems, await waitForMasters(client, 0));
  const workload = await ChaosWorkload.start(t, cluster, run.rng.fork('workload'), { root: '/chaos' });
  const pauses = new Pauses(t, cluster, run.faults);
  const schedule = run.rng.fork('faults');
  const chunkservers = [...(await cluster.roleIds('chunkserver')).keys()].sort();
  await workload.acksAfter(0, 5);

  await run.eachRound(async (round) => {
    await sleep(schedule.int(1000, 4000));
    const master = schedule.chance(0.5);
    const ms = schedule.int(OUTLASTED_MS + 1_500, OUTLASTED_MS + 5_000);
    const csTarget = schedule.pick(chunkservers);
    const before = master ? await activeMaster(cluster, client) : undefined;
    const id = before?.processId ?? csTarget;
    const pausedAt = Date.now();
    const pid = await pauses.pause(id, ms, master ? 'the active master' : 'a chunkserver');
    if (pid === undefined) return t.log(`round ${round}: ${id} was not running; no pause`);
    if (before) {
      // A new term must begin (the standby takes over; or, with none in sync, the old master restarts into
      // a new epoch): the paused master must step down, not serve on in its old epoch.
      noteProblem(t, problems, await waitForMasters(client, before.epoch, 45_000));
      const after = await activeMaster(cluster, client);
      t.log(`round ${round}: ${after.processId} active at epoch ${after.epoch} (was ${before.processId} at ${before.epoch})`);
    }
    // The workload's next write, or (if the writers are done) a probe: writes must go on after a pause.
    const ack = await workload.acksAfter(pausedAt, 1, 5_000).catch(async () => {
      await probeWrite(client, `/probe/round-${round}`);
      return Date.now();
    });
    // What the woken process did: it lost its session, so it should have exited (and been restarted).
    let fate = 'still running with the same pid 10 s after SIGCONT';
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(200)) {
      const now = await livePidOf(cluster, id);
      if (now === undefined) fate = 'exited; not restarted within 10 s';
      else if (now !== pid) {
        fate = `exited and was restarted (pid ${now})`;
        break;
      }
    }
    t.log(`round ${round}: ${id} paused ${ms} ms; first write acknowledged ${ack - pausedAt} ms after the pause began; after SIGCONT it ${fate}`);
  });

  await settle(run, cluster, client, workload, { root: '/chaos', replication: REPLICATION, violations: problems });
});
