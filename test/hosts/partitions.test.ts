import test from 'ava';
import { sleep } from '../helpers/chaos.js';
import { waitFor } from '../helpers/cluster.js';
import { PORTS, type HostsCluster } from '../helpers/hosts/hosts-cluster.js';
import { hostsCluster, partitionUnderLoad, seedOr } from '../helpers/hosts/hosts-test.js';
import type { Host } from '../helpers/hosts/network.js';
import type { ProbeAnswer } from '../helpers/hosts/workload-runner.js';

/*
 * Partitions between hosts (iptables DROP inside a host's namespace), each
 * under the SharedNamesWorkload with its history checked, each with its
 * availability figure in the log. OFS_CHAOS_SEED=N replays a workload's
 * choices (not its timing).
 */

/** Per epoch, which masters answered and when the first and last answers came. */
function answersByEpoch(probes: ProbeAnswer[]): Map<number, { masters: Set<string>; first: number; last: number }> {
  const epochs = new Map<number, { masters: Set<string>; first: number; last: number }>();
  for (const p of probes) {
    const e = epochs.get(p.epoch) ?? { masters: new Set(), first: p.at, last: p.at };
    e.masters.add(p.master);
    e.first = Math.min(e.first, p.at);
    e.last = Math.max(e.last, p.at);
    epochs.set(p.epoch, e);
  }
  return epochs;
}

test('the active master cut off from all three ZooKeeper servers, not from clients or chunkservers: it stops answering before a new master is elected', async (t) => {
  const cluster = await hostsCluster(t);
  const before = await cluster.status();
  const active = cluster.hostAt(before.master.address);
  let electedAt = 0;
  const { partition, report } = await partitionUnderLoad(t, cluster, { seed: seedOr(1), probeMasters: true }, async () => {
    const cutAt = Date.now();
    await cluster.network.cut(active, cluster.zkHosts);
    const after = await waitFor('another master to be elected', async () => {
      const status = await cluster.status(10_000);
      return status.master.epoch > before.master.epoch && status;
    });
    electedAt = Date.now();
    t.not(after.master.id, before.master.id);
    await sleep(2_000);
    await cluster.network.heal([active]);
    return { cutAt, healAt: Date.now() };
  });

  const epochs = answersByEpoch(report.probes);
  for (const [epoch, e] of [...epochs].sort(([a], [b]) => a - b)) {
    t.log(`epoch ${epoch}: ${[...e.masters].join(', ')} answered the prober from ${e.first - partition.cutAt} ms to ${e.last - partition.cutAt} ms after the cut`);
    t.is(e.masters.size, 1, `two masters answered in epoch ${epoch}`);
  }
  const old = epochs.get(before.master.epoch);
  const next = epochs.get(before.master.epoch + 1);
  t.truthy(old && next, 'the prober heard both the old and the new master');
  // The old master must fall silent before its successor answers anything, or a client that has
  // not seen the election yet could read from it what the new master has already changed.
  t.true(old!.last < next!.first, `the deposed master answered ${old!.last - next!.first} ms after its successor's first answer`);
  t.true(electedAt > 0);
  t.true(cluster.process(active.name).exits.some((e) => e.code === 75), 'the deposed master exited (lost session) and was restarted');
});

test('a chunkserver cut off from both masters, not from clients or ZooKeeper: the master drops it, and it rejoins after the heal', async (t) => {
  const cluster = await hostsCluster(t);
  const cs = cluster.chunkserverHosts[0]!;
  const address = `tcp://${cs.address}:7000`;
  await partitionUnderLoad(t, cluster, { seed: seedOr(2) }, async () => {
    const cutAt = Date.now();
    await cluster.network.cut(cs, cluster.masterHosts);
    await waitFor('the master to drop the chunkserver', async () => !(await cluster.status(10_000)).chunkservers.some((c) => c.address === address));
    t.log(`the master dropped it ${Date.now() - cutAt} ms after the cut`);
    await sleep(3_000);
    await cluster.network.heal([cs]);
    return { cutAt, healAt: Date.now() };
  });
  await waitFor('full replication again', async () => (await cluster.status()).underReplicated === 0, 60_000);
});

test('a ZooKeeper minority (one server) cut off from every host: the cluster carries on, and recovers by itself after the heal', async (t) => {
  const cluster = await hostsCluster(t);
  const before = await cluster.status();
  const zk3 = cluster.zkHosts[2]!;
  await partitionUnderLoad(t, cluster, { seed: seedOr(3) }, async () => {
    const cutAt = Date.now();
    await cluster.network.cut(zk3, [...cluster.network.hosts.values()].filter((h) => h !== zk3));
    await sleep(6_000);
    await cluster.network.heal([zk3]);
    return { cutAt, healAt: Date.now() };
  });
  // With the default 1.5 s master session, a master connected to the lost server sometimes fails to
  // reach another one in time and a failover follows (seen once in two runs): said, not asserted.
  const after = await cluster.status();
  t.log(after.master.epoch === before.master.epoch ? 'no failover' : `a failover: epoch ${before.master.epoch} → ${after.master.epoch}`);
});

test('a ZooKeeper majority (two servers) cut off from every other host: the history holds, no two masters answer at once, and the cluster recovers by itself after the heal', async (t) => {
  const cluster = await hostsCluster(t);
  const majority = cluster.zkHosts.slice(0, 2);
  const { partition, report } = await partitionUnderLoad(t, cluster, { seed: seedOr(4), probeMasters: true }, async () => {
    const cutAt = Date.now();
    for (const zk of majority) await cluster.network.cut(zk, [...cluster.network.hosts.values()].filter((h) => !majority.includes(h)));
    await sleep(8_000);
    await cluster.network.heal(majority);
    return { cutAt, healAt: Date.now() };
  });
  // Nobody can be elected while the quorum is cut off; the probe checks the epochs all the same.
  const epochs = [...answersByEpoch(report.probes)].sort(([a], [b]) => a - b);
  for (const [epoch, e] of epochs) {
    t.log(`epoch ${epoch}: ${[...e.masters].join(', ')} answered the prober from ${e.first - partition.cutAt} ms to ${e.last - partition.cutAt} ms after the cut`);
    t.is(e.masters.size, 1, `two masters answered in epoch ${epoch}`);
  }
  for (let i = 1; i < epochs.length; i++) {
    const [[, old], [epoch, next]] = [epochs[i - 1]!, epochs[i]!];
    t.true(old.last < next.first, `the master of the epoch before ${epoch} answered ${old.last - next.first} ms after its successor's first answer`);
  }
});

test('the ZooKeeper server holding the active master’s session cut off from the other two, and the master from them: it falls silent before the other side elects its successor', async (t) => {
  const cluster = await hostsCluster(t);
  const before = await cluster.status();
  const active = cluster.hostAt(before.master.address);
  // Which server the master's session lives on: the one listing a connection from its address.
  const serving = await waitFor('the server holding the active master’s connection', async () => {
    for (const zk of cluster.zkHosts) if ((await fourLetters(cluster, zk, 'cons')).includes(`/${active.address}:`)) return zk;
    return undefined;
  });
  const mode = /^Mode: (\w+)/m.exec(await fourLetters(cluster, serving, 'srvr'))?.[1];
  const others = cluster.zkHosts.filter((zk) => zk !== serving);
  const { partition, report } = await partitionUnderLoad(t, cluster, { seed: seedOr(7), probeMasters: true }, async () => {
    const cutAt = Date.now();
    // The server left alone (leader or follower) serves the master's session until it misses the others
    // for syncLimit; they expire that session after the session timeout and elect the standby.
    await cluster.network.cut(serving, others);
    await cluster.network.cut(active, others);
    await waitFor('another master to be elected', async () => (await cluster.status(10_000)).master.epoch > before.master.epoch);
    await sleep(2_000);
    await cluster.network.heal([serving, active]);
    return { cutAt, healAt: Date.now() };
  });
  t.log(`the active master's ZooKeeper server ${serving.name} was a ${mode ?? 'server of unknown mode'}`);
  const epochs = answersByEpoch(report.probes);
  for (const [epoch, e] of [...epochs].sort(([a], [b]) => a - b)) {
    t.log(`epoch ${epoch}: ${[...e.masters].join(', ')} answered the prober from ${e.first - partition.cutAt} ms to ${e.last - partition.cutAt} ms after the cut`);
  }
  const old = epochs.get(before.master.epoch);
  const next = epochs.get(before.master.epoch + 1);
  t.truthy(old && next, 'the prober heard both the old and the new master');
  // With a syncLimit past half the session (zoo.cfg had 5 s), the server cut off kept the deposed master's
  // session alive after the other side had expired it, and the deposed master answered after its successor.
  t.true(old!.last < next!.first, `the deposed master answered ${old!.last - next!.first} ms after its successor's first answer`);
});

/**
 * What a ZooKeeper server answers a four-letter command (`srvr`: its mode; `cons`: who is connected),
 * asked from inside its own host: the test's namespace has no route to the hosts' subnet, so
 * `askFourLetterWord` (src/cluster/zookeeper-server.ts) cannot reach it from here.
 */
async function fourLetters(cluster: HostsCluster, zk: Host, command: 'srvr' | 'cons'): Promise<string> {
  return cluster.run(zk, ['bash', '-c', `exec 3<>/dev/tcp/${zk.address}/${PORTS.zkClient}; printf ${command} >&3; cat <&3`], 10_000);
}

test('the active master cut off from its standby, then healed: it acknowledges alone, and the standby is back in sync after the heal', async (t) => {
  const cluster = await hostsCluster(t);
  const before = await cluster.status();
  const active = cluster.hostAt(before.master.address);
  const standby = cluster.hostAt(before.standby[0]!.address);
  await partitionUnderLoad(t, cluster, { seed: seedOr(5) }, async () => {
    const cutAt = Date.now();
    await cluster.network.cut(active, [standby]);
    await waitFor('the standby to drop out of the in-sync set', async () => !(await cluster.status(10_000)).standby.some((s) => s.inSync));
    t.log(`the standby left the in-sync set ${Date.now() - cutAt} ms after the cut`);
    await sleep(3_000);
    await cluster.network.heal([active]);
    return { cutAt, healAt: Date.now() };
  });
  t.is((await cluster.status()).master.epoch, before.master.epoch, 'no failover');
});

test('a client cut off from one chunkserver (the primary of some of its writes) mid-write: its writes finish or fail cleanly, and the history holds', async (t) => {
  const cluster = await hostsCluster(t);
  const client = cluster.clientHosts[0]!;
  const cs = cluster.chunkserverHosts[0]!;
  await partitionUnderLoad(t, cluster, { seed: seedOr(6) }, async () => {
    const cutAt = Date.now();
    await cluster.network.cut(client, [cs]);
    await sleep(6_000);
    await cluster.network.heal([client]);
    return { cutAt, healAt: Date.now() };
  });
});
