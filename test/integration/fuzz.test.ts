import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { curveKeyPair } from 'zeromq';
import { fuzzServer, fuzzWithoutKeys, processUsage, type FuzzFigures } from '../helpers/fuzz-run.js';
import type { Role } from '../../src/security/roles.js';
import { patternBytes, sha256, TestCluster, waitFor } from '../helpers/cluster.js';

/**
 * Bad input, on purpose: seeded near-valid and garbage messages to the
 * active master, the standby, a chunkserver and its data socket of a real
 * (secure) cluster, at once. The fuzzer holds the master's keys and signs
 * most headers with its role token, so that the bodies reach every handler
 * (a master may send any message type); the rest carry no, a mangled or a
 * garbage token. The second test is the stream without the cluster's keys.
 * OFS_FUZZ_FRAMES sets the ZeroMQ frames per role (100,000 by default,
 * some 15 s), OFS_FUZZ_SEED replays a run.
 */
const PER_ROLE = Number(process.env.OFS_FUZZ_FRAMES ?? 100_000);
const SEED = Number(process.env.OFS_FUZZ_SEED ?? Date.now() % 2 ** 31);
/** Above the 30 s a server's own call to a peer may wait (a fuzzed chain or copy source): longer is a hang. */
const REPLY_BOUND_MS = 35_000;
/** Resident memory a role may gain over a run: buffers and heap it has not given back yet, not a leak per message. */
const RSS_GROWTH_BOUND = 256 * 1024 * 1024;
/** Log a role may write per second of fuzzing: ten warnings of rejected requests (about 3 KiB), and what the valid requests among them log (checkpoints, standbys attached). */
const LOG_BYTES_PER_SECOND = 16 * 1024;

test('a fuzzed stream of bad messages crashes, hangs and bloats no role; each is answered or dropped; the cluster serves afterwards', async (t) => {
  t.timeout(10 * 60_000);
  t.log(`seed ${SEED} (OFS_FUZZ_SEED=${SEED} replays it), ${PER_ROLE} frames per role`);
  const cluster = await TestCluster.start();
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());
  await client.write('/before', patternBytes(100_000, 3));

  const status = await client.status();
  const before = await cluster.file();
  const port = (address: string) => Number(address.split(':').at(-1));
  const active = before.processes.find((p) => p.port === port(status.master.address))!;
  const standby = before.processes.find((p) => p.role === 'master' && p !== active)!;
  const chunkserver = before.processes.find((p) => p.role === 'chunkserver')!;
  const located = await client.stat('/before');
  const dataSocket = located.chunks[0]!.replicas.find((r) => r.id === chunkserver.id)?.data ?? located.chunks[0]!.replicas[0]!.data!;
  const dataOwner = before.processes.find((p) => located.chunks[0]!.replicas.some((r) => r.id === p.id && r.data?.address === dataSocket.address))!;
  // `keyed`: the socket speaks CURVE and asks for role tokens. The data socket is plain by default and asks
  // for none (chunk tokens guard what it does).
  const targets: Record<string, { id: string; pid: number; address: string; server: Role; keyed: boolean }> = {
    'active master': { ...active, address: `tcp://127.0.0.1:${active.port}`, server: 'master', keyed: true },
    standby: { ...standby, address: `tcp://127.0.0.1:${standby.port}`, server: 'master', keyed: true },
    chunkserver: { ...chunkserver, address: `tcp://127.0.0.1:${chunkserver.port}`, server: 'chunkserver', keyed: true },
    'data socket': { ...dataOwner, address: dataSocket.address, server: 'chunkserver', keyed: dataSocket.curve },
  };
  const master = (await cluster.identity('master'))!;

  const logBytes = (id: string) => stat(join(cluster.dir, 'logs', `${id}.log`)).then((s) => s.size);
  const logBefore = await Promise.all(Object.values(targets).map((p) => logBytes(p.id)));
  const usageBefore = await Promise.all(Object.values(targets).map((p) => processUsage(p.pid)));
  const figures = await Promise.all(
    Object.values(targets).map((p, i) =>
      fuzzServer(p.address, {
        seed: SEED + i * 1_000_003, frames: PER_ROLE, oversize: 3, replyBoundMs: REPLY_BOUND_MS,
        ...(p.keyed ? { curve: master.clientOptions(p.server), token: master.token(p.address) } : {}),
      }),
    ),
  );
  const usageAfter = await Promise.all(Object.values(targets).map((p) => processUsage(p.pid)));
  const logAfter = await Promise.all(Object.values(targets).map((p) => logBytes(p.id)));

  Object.keys(targets).forEach((role, i) => {
    const f: FuzzFigures = figures[i]!;
    const logged = logAfter[i]! - logBefore[i]!;
    t.log(`${role}: ${JSON.stringify(f)}; RSS ${mib(usageBefore[i]!.rss)} → ${mib(usageAfter[i]!.rss)} MiB, fds ${usageBefore[i]!.fds} → ${usageAfter[i]!.fds}, ${logged} bytes logged`);
    t.true(logged < LOG_BYTES_PER_SECOND * (f.ms / 1000 + 1), `${role}: bad requests do not flood the log`);
    t.is(f.dropped, 0, `${role}: every readable request is answered`);
    t.true(f.slowestReplyMs < REPLY_BOUND_MS, `${role}: no reply took ${REPLY_BOUND_MS} ms`);
    t.is(f.oversize.answered, 0, `${role}: a frame over the size limit drops its peer`);
    t.true(usageAfter[i]!.rss - usageBefore[i]!.rss < RSS_GROWTH_BOUND, `${role}: RSS grew ${mib(usageAfter[i]!.rss - usageBefore[i]!.rss)} MiB`);
    t.true(usageAfter[i]!.fds - usageBefore[i]!.fds < 16, `${role}: no file descriptors leak`);
  });

  // Nothing died or was restarted, no actor crashed, and the cluster still does its work.
  const after = await cluster.file();
  t.deepEqual(after.processes.map((p) => p.pid), before.processes.map((p) => p.pid), 'no process was restarted');
  t.is(cluster.supervisorRestarts(), 0, 'the supervisor restarted nothing');
  for (const p of Object.values(targets)) t.is(await cluster.logLines(p.id, /actor crashed/), 0, `no actor of ${p.id} crashed`);
  const data = patternBytes(700_000, 9);
  await client.write('/after-fuzz', data);
  t.is(sha256(await client.read('/after-fuzz')), sha256(data));
  t.is(sha256(await client.read('/before')), sha256(patternBytes(100_000, 3)));
  const final = await waitFor('the standby to be in sync', async () => {
    const s = await client.status();
    return s.standby.length === 1 && s.standby[0]!.inSync && s.standby[0]!.lag === 0 && s;
  });
  t.is(final.master.address, status.master.address, 'the same master is active');
});

test("without the cluster's keys a fuzzed stream gets nothing back from any role: plain ZeroMQ and an unknown CURVE key are both cut off at the handshake", async (t) => {
  const cluster = await TestCluster.start();
  t.teardown(() => cluster.stop());
  const client = await cluster.client();
  t.teardown(() => client.close());
  const data = patternBytes(300_000, 4);
  await client.write('/kept', data);
  const digest = (await client.status({ digest: true })).master.digest;
  const file = await cluster.file();
  const stranger = curveKeyPair();
  const known = (await cluster.identity('client'))!;
  for (const p of file.processes.filter((p) => p.role !== 'zookeeper')) {
    const server: Role = p.role === 'chunkserver' ? 'chunkserver' : 'master';
    const address = `tcp://127.0.0.1:${p.port}`;
    // An unknown key that knows the server's public key: ZAP refuses it.
    const unknownKey = { ...known.clientOptions(server), curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey };
    const before = await processUsage(p.pid);
    for (const [kind, curve] of [['plain ZeroMQ', undefined], ['unknown CURVE key', unknownKey]] as const) {
      const f = await fuzzWithoutKeys(address, { seed: SEED + p.port, frames: PER_ROLE, curve, listenMs: 1_000 });
      t.log(`${p.id} (${server}), ${kind}: ${JSON.stringify(f)}`);
      t.is(f.replies, 0, `${p.id}: ${kind} gets no reply`);
      t.true(Object.keys(f.events).some((e) => e.startsWith('handshake:error') || e === 'disconnect'), `${p.id}: ${kind} is cut off at the handshake`);
    }
    const after = await processUsage(p.pid);
    t.true(after.rss - before.rss < RSS_GROWTH_BOUND, `${p.id}: RSS grew ${mib(after.rss - before.rss)} MiB`);
  }
  t.is(cluster.supervisorRestarts(), 0, 'the supervisor restarted nothing');
  t.is((await client.status({ digest: true })).master.digest, digest, 'the namespace is unchanged');
  t.is(sha256(await client.read('/kept')), sha256(data));
});

const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
