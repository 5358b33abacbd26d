import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusterFor, patternBytes, sha256, TestCluster, waitFor } from '../helpers/cluster.js';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { OfsError } from '../../src/core/errors.js';
import { replicaDigests } from '../helpers/replicas.js';
import { PIECE_BYTES } from '../../src/client/file-writer.js';
import { PUT_MAX_BYTES } from '../../src/transport/protocol.js';
import { activeMaster, waitForNewActiveWithStandby } from '../helpers/workload.js';

const CHUNK = 256 * 1024;

test('a write at an offset spanning three chunks reads back at every offset and every edge range', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1 });
  const base = patternBytes(4 * CHUNK, 1);
  await client.write('/span', base);
  // Overwrite in place across chunks 0-2, then extend past the old end.
  const patch = patternBytes(2 * CHUNK + 1000, 2);
  await client.write('/span', patch, { offset: CHUNK - 500 });
  const tail = patternBytes(300_000, 3);
  await client.write('/span', tail, { offset: 4 * CHUNK - 100 });
  const expected = Buffer.concat([base.subarray(0, 4 * CHUNK - 100), tail]);
  patch.copy(expected, CHUNK - 500);

  t.is((await client.stat('/span')).size, expected.length);
  t.is(sha256(await client.read('/span')), sha256(expected));
  for (let offset = 0; offset < expected.length; offset += 4099) {
    const got = await client.read('/span', { offset, length: 7 });
    t.is(got.toString('hex'), expected.subarray(offset, offset + 7).toString('hex'), `offset ${offset}`);
  }
  for (let edge = CHUNK; edge < expected.length; edge += CHUNK) {
    for (const d of [1, 2, 100, 65_536]) {
      const got = await client.read('/span', { offset: edge - d, length: 2 * d });
      t.is(sha256(got), sha256(expected.subarray(edge - d, edge + d)), `range ${edge - d}+${2 * d}`);
    }
  }
  // A write past the end leaves a hole that reads as zeros.
  await client.write('/span', 'end', { offset: expected.length + 10 });
  t.is((await client.read('/span', { offset: expected.length, length: 13 })).toString('hex'), `${'00'.repeat(10)}${Buffer.from('end').toString('hex')}`);
});

test('4 clients overwriting the same region at once: every replica of every chunk ends byte-identical, and each mutation holds one write\'s bytes whole', async (t) => {
  // Chunks of two pieces, so that a chunk's share of a write is more than one mutation.
  const chunk = 2 * PIECE_BYTES;
  const cluster = await TestCluster.start({ chunkSize: chunk, masters: 1 });
  t.teardown(() => cluster.stop());
  const clients = await Promise.all([0, 1, 2, 3].map(() => cluster.client()));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  await clients[0]!.write('/contended', patternBytes(3 * chunk, 9));
  // Straddles chunks 0, 1 and 2: the edge parts (30,000 and 37,856 bytes) go inline with their commits; chunk 1's
  // share is two pushed mutations of a piece each.
  const region = { offset: chunk - 30_000, length: 30_000 + chunk + 37_856 };
  const mutations = mutationRanges(region.offset, region.length, chunk);
  t.is(mutations.length, 4, 'the region is 4 mutations: 2 inline edges and 2 pushed pieces');
  const mixed: string[] = [];
  // Each round the 4 clients write at once, so that their mutations race at the primaries; once all
  // 4 returned, every mutation's range holds the bytes of one of them, whole.
  for (let round = 0; round < 8; round++) {
    const written = clients.map((_, c) => patternBytes(region.length, 1000 * c + round));
    await Promise.all(clients.map((client, c) => client.write('/contended', written[c]!, { offset: region.offset })));
    const data = await clients[0]!.read('/contended', region);
    const winners = mutations.map(([from, to]) => {
      const part = (bytes: Buffer) => bytes.subarray(from - region.offset, to - region.offset);
      const winner = written.findIndex((w) => part(w).equals(part(data)));
      t.not(winner, -1, `round ${round}: bytes ${from}-${to} are one write's mutation`);
      return winner;
    });
    if (winners[1] !== winners[2]) mixed.push(`round ${round}: ${winners.join(', ')}`);
  }
  const stat = await clients[0]!.stat('/contended');
  for (const { chunkId, digests } of await replicaDigests(stat, cluster)) {
    t.is(digests.size, 3, `chunk ${chunkId} has 3 replicas`);
    t.is(new Set(digests.values()).size, 1, `replicas of chunk ${chunkId} differ: ${[...digests.values()].join(' ')}`);
  }
  t.log(`rounds where chunk 1 held two writers' bytes: ${mixed.join('; ') || 'none'}`);
});

/** The ranges a write splits into, one mutation each: pieces of at most PIECE_BYTES from its offset, cut at chunk boundaries. */
function mutationRanges(offset: number, length: number, chunkSize: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let at = offset; at < offset + length; ) {
    const end = Math.min(at + PIECE_BYTES, (Math.floor(at / chunkSize) + 1) * chunkSize, offset + length);
    ranges.push([at, end]);
    at = end;
  }
  return ranges;
}

test('a chunkserver killed in the middle of a write: the client retries and succeeds; the replica that missed it is stale and never served', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1, leaseMs: 3000 });
  const data = patternBytes(6 * CHUNK, 21);
  await client.write('/killed', Buffer.alloc(0));
  const victim = await cluster.process('chunkserver-1');
  const victimId = (await cluster.roleIds('chunkserver')).get('chunkserver-1')!;

  // A slow writer: one piece every 20 ms. Right after the first piece of chunk 1 (a fresh lease, kept for the pieces
  // that follow) the victim is frozen, so the next piece's push certainly waits on it when the kill lands: a kill
  // between two pieces, or while the master granted a lease, would need no retry by the client.
  let pieceStartedAt: number | undefined;
  let frozen = false;
  const writing = (async () => {
    for (let at = 0; at < data.length; at += 64 * 1024) {
      pieceStartedAt = Date.now();
      await client.write('/killed', data.subarray(at, at + 64 * 1024), { offset: at });
      pieceStartedAt = undefined;
      if (at === CHUNK) frozen = process.kill(victim.pid, 'SIGSTOP');
      await sleep(20);
    }
  })();
  await waitFor('a piece to be stuck on the frozen chunkserver', async () => frozen && pieceStartedAt !== undefined && Date.now() - pieceStartedAt > 500);
  process.kill(victim.pid, 'SIGKILL');
  await writing;

  t.true(client.stats().mutationRetries > 0, 'the kill interrupted a mutation that the client then retried');
  t.is(sha256(await client.read('/killed')), sha256(data));
  // Chunks mutated after the kill are at a newer version than the dead replica holds...
  const stat = await client.stat('/killed');
  t.true(stat.chunks.some((c) => c.version >= 2));
  // ...and once it is back (restarted by the supervisor) its stale replicas are never handed out...
  await waitFor('the killed chunkserver to rejoin', async () => (await client.status()).chunkservers.some((c) => c.id === victimId), 60_000);
  const dirs = await cluster.chunkserverDirs();
  await waitFor('its stale replicas to be deleted through its reports', async () => {
    const now = await client.stat('/killed');
    const served = now.chunks.filter((c) => c.replicas.some((r) => r.id === victimId));
    const { readdir } = await import('node:fs/promises');
    const files = await readdir(`${dirs.get(victimId)}/chunks`);
    const staleOnDisk = now.chunks.filter((c) => !served.includes(c) && files.includes(`${c.chunkId}.data`));
    return staleOnDisk.length === 0;
  }, 60_000);
  // ...and every replica the master lists holds the current version and its bytes (asked straight, naming that version).
  // The replicas may still move as the cluster settles between the listing and the reads (a copy starts by moving the
  // chunk to a new version; a surplus replica is dropped): list and read again until a listing reads whole.
  let listed: Awaited<ReturnType<typeof replicaDigests>> = [];
  await waitFor('every replica listed to answer for the version listed', async () => {
    try {
      listed = await replicaDigests(await client.stat('/killed'), cluster);
      return true;
    } catch (err) {
      if ((err as OfsError).code === 'ENOENT' || (err as OfsError).code === 'ESTALE') return false;
      throw err;
    }
  }, 60_000);
  for (const [index, { chunkId, digests }] of listed.entries()) {
    const expected = sha256(data.subarray(index * CHUNK, (index + 1) * CHUNK));
    for (const [serverId, digest] of digests) t.is(digest, expected, `chunk ${chunkId} as served by ${serverId}`);
  }
  // A replica refuses a read that names a version it does not hold, as one that missed a mutation is asked for the current one.
  const [first] = (await client.stat('/killed')).chunks;
  const rpc = await cluster.rpc('test-reader');
  t.teardown(() => rpc.close());
  const token = await cluster.token(first!.chunkId, first!.version + 1, 'read');
  const ahead = rpc.call(first!.replicas[0]!.address, 'chunk.read', { chunkId: first!.chunkId, version: first!.version + 1, offset: 0, length: CHUNK, token });
  await t.throwsAsync(ahead, { code: 'ESTALE' });
  t.is(sha256(await client.read('/killed')), sha256(data));
});

// The supervisor restarts the killed server at once, under the same id. So the new lease may come
// after the old one expires, or sooner, when the restarted server confirms its revocation; and it
// may go to that same server, or, if re-replication bumps the version meanwhile, be revoked again
// before the test looks. What must hold either way: writes go on, at a higher version.
test('kill the primary: a new lease at a higher version, every replica refuses the old primary’s orders, and writes go on', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1, leaseMs: 3000 });
  await client.write('/leased', patternBytes(1000, 1));
  await client.write('/leased', 'x', { offset: 10 }); // takes (or reuses) a lease on chunk 0
  const before = (await client.stat('/leased')).chunks[0]!;
  t.truthy(before.primary, 'chunk 0 has a primary');
  const primaryProcess = [...(await cluster.roleIds('chunkserver'))].find(([, id]) => id === before.primary)![0];
  await cluster.kill(primaryProcess);
  const killedAt = Date.now();

  await client.write('/leased', 'after', { offset: 20 });
  const after = (await client.stat('/leased')).chunks[0]!;
  t.true(after.version > before.version, 'a new lease bumped the version');
  t.is((await client.read('/leased', { offset: 20, length: 5 })).toString(), 'after');
  // What the deposed primary would still send its secondaries: refused by every current replica, at the old version.
  const rpc = await cluster.rpc('test-deposed-primary', 'chunkserver');
  t.teardown(() => rpc.close());
  for (const replica of after.replicas) {
    const order = { chunkId: before.chunkId, version: before.version, serial: 1, padded: false, offset: 20, length: 5 };
    await t.throwsAsync(rpc.call(replica.address, 'chunk.apply', order, { data: [Buffer.from('stale')] }), { code: 'ESTALE' }, replica.id);
  }
  t.is((await client.read('/leased', { offset: 20, length: 5 })).toString(), 'after');
  t.log(`write went on ${Date.now() - killedAt} ms after the primary was killed; primary now ${after.primary ?? 'none'} (was ${before.primary})`);
});

const revokes = test.macro({
  exec: async (t, action: 'delete' | 'rename') => {
    const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1, leaseMs: 60_000 });
    await client.write('/revoked', patternBytes(CHUNK, 4));
    await client.write('/revoked', 'first', { offset: 0 }); // a lease on chunk 0, good for a minute
    const chunk = (await client.stat('/revoked')).chunks[0]!;
    const primary = chunk.replicas.find((r) => r.id === chunk.primary)!;

    // What a writer still holding the lease would send to the primary.
    const rpc = await cluster.rpc('test-stale-writer');
    t.teardown(() => rpc.close());
    const commit = async () => {
      const bufferId = randomBytes(8).toString('hex');
      const chain = chunk.replicas.filter((r) => r !== primary).map((r) => ({ address: r.address, curve: true }));
      const { chunkId, version } = chunk;
      const token = await cluster.token(chunkId, version, 'write');
      await rpc.call(primary.address, 'chunk.push', { chunkId, version, bufferId, chain, token }, { data: [Buffer.from('late')] });
      return rpc.call(primary.address, 'chunk.commit', { chunkId, version, bufferId, mode: 'write', offset: 0, length: 4, token });
    };
    await t.notThrowsAsync(commit(), `before the ${action} the primary accepts`);

    if (action === 'delete') await client.delete('/revoked');
    else await client.rename('/revoked', '/renamed');
    const refused = await waitFor('the primary to refuse the revoked lease', async () => {
      const error = await commit().then(() => undefined, (err: OfsError) => err);
      return error?.code === 'ELEASE' ? error : undefined;
    }, 10_000);
    t.regex(refused.message, /holds no lease on chunk/);
    if (action === 'rename') t.is((await client.read('/renamed', { offset: 0, length: 4 })).toString(), 'late', 'the renamed file holds what the primary took before the rename');
  },
  title: (_, action) => `${action === 'delete' ? 'deleting' : 'renaming'} a file revokes the leases on its chunks: its primary refuses further mutations`,
});

test(revokes, 'delete');
test(revokes, 'rename');

test('a primary that stops answering keeps its lease to the end: the master grants none to another replica before the lease it granted expires', async (t) => {
  const LEASE_MS = 10_000;
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1, leaseMs: LEASE_MS });
  // The lease is granted after this, and expires no earlier than LEASE_MS later (an extension only moves that on).
  const leasedAfter = Date.now();
  // Past the put limit: a lease and a commit (a small file's put leaves no lease behind).
  await client.write('/waited', patternBytes(PUT_MAX_BYTES + 1000, 7));
  const chunk = (await client.stat('/waited')).chunks[0]!;
  t.truthy(chunk.primary, 'the create leased chunk 0');
  const primaryProcess = await cluster.process([...(await cluster.roleIds('chunkserver'))].find(([, id]) => id === chunk.primary)![0]);
  // Paused, the primary can neither confirm a revocation nor be told of one.
  process.kill(primaryProcess.pid, 'SIGSTOP');
  t.teardown(() => process.kill(primaryProcess.pid, 'SIGCONT'));

  const rpc = await cluster.rpc('test-after-failure');
  t.teardown(() => rpc.close());
  const master = (await client.status()).master.address;
  const refusals: string[] = [];
  const lease = await waitFor('a new lease', () =>
    rpc.call(master, 'master.lease', { path: '/waited', index: 0, afterFailure: true }).then(
      (reply) => reply.body,
      (err: OfsError) => void refusals.push(`${err.code}: ${err.message}`),
    ), 4 * LEASE_MS);
  const grantedBy = Date.now();
  t.true(grantedBy - leasedAfter >= LEASE_MS, `a new primary ${grantedBy - leasedAfter} ms after the old lease was granted, before it expired`);
  t.not(lease.primary.id, chunk.primary, 'another replica is primary');
  t.true(lease.version > chunk.version, 'at a higher version');
  t.true(refusals.length > 0, 'asked while the old lease was in force, the master refused');
  for (const refusal of refusals) t.regex(refusal, new RegExp(`^EUNAVAILABLE: chunk ${chunk.chunkId}: the lease held by ${chunk.primary} cannot be revoked; it expires in \\d+ ms$`));
});

test('a commit that names a replica set or a chunk size is refused and changes nothing: the primary sends every mutation to the secondaries of its lease', async (t) => {
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 1, leaseMs: 60_000 });
  const expected = patternBytes(100_000, 41);
  await client.write('/owned', expected); // the create leased chunk 0, good for a minute
  const chunk = (await client.stat('/owned')).chunks[0]!;
  const primary = chunk.replicas.find((r) => r.id === chunk.primary)!;
  const replicasHold = async (bytes: Buffer, what: string) => {
    const [{ digests }] = await replicaDigests(await client.stat('/owned'), cluster);
    t.is(digests!.size, 3, what);
    for (const [server, digest] of digests!) t.is(digest, sha256(bytes), `${what}: ${server}`);
  };

  // What an old or buggy client would send: fewer secondaries than the lease has (left alone, the
  // primary alone would take the bytes, at the same version as the others), or another chunk size.
  const rpc = await cluster.rpc('test-hand-built-commit');
  t.teardown(() => rpc.close());
  const token = await cluster.token(chunk.chunkId, chunk.version, 'write');
  const commit = (named: object) =>
    rpc.call(primary.address, 'chunk.commit', { chunkId: chunk.chunkId, version: chunk.version, mode: 'write', offset: 0, length: 4, token, ...named } as never, { data: [Buffer.from('mine')] });
  for (const named of [{ secondaries: [] }, { chunkSize: 2 }, { secondaries: chunk.replicas.map((r) => r.address), chunkSize: CHUNK }]) {
    const refused = await t.throwsAsync<OfsError>(commit(named));
    t.is(refused?.code, 'EBADMSG');
    t.regex(refused?.message ?? '', new RegExp(`a commit may not name ${Object.keys(named).join(', ')}: the primary sends it to the replicas and within the chunk size of its lease`));
  }
  await replicasHold(expected, 'after the refused commits');

  // The commit as a client sends it: the primary takes it to every replica its lease names.
  t.deepEqual((await commit({})).body, { offset: 0, padded: false });
  await replicasHold(Buffer.concat([Buffer.from('mine'), expected.subarray(4)]), 'after the commit');
});

test('a chunkserver paused while a new chunk gets its lease applies the version late: its empty copy is stale, never served', async (t) => {
  // A 6 s ZooKeeper session: the chunkserver survives its 3 s pause (no restart), and wakes up with the grant's
  // chunk.setVersion still queued; it creates the chunk, empty, at that version.
  const { cluster, client } = await clusterFor(t, { chunkSize: CHUNK, masters: 2, zkSessionMs: 6000 });
  await waitForNewActiveWithStandby(client, 'none');
  await client.write('/warm-up', 'x'); // every chunkserver has reported
  const victim = await cluster.process('chunkserver-2');
  const data = patternBytes(100_000, 31);

  const master = await activeMaster(cluster, client);
  t.teardown(() => cluster.kill(master.processId, 'SIGCONT').catch(() => undefined)); // if the test fails below

  let chunkId = '';
  process.kill(victim.pid, 'SIGSTOP');
  try {
    // The master gives up on the paused replica after 3 s and goes on with the other two.
    await client.write('/late', data);
    chunkId = (await client.stat('/late')).chunks[0]!.chunkId;
  } finally {
    // The active master sleeps while the chunkserver catches up, so that its late chunk is first heard of in
    // the full reports a new master asks for: re-replication cannot paper over it with a fresh copy first.
    await cluster.kill(master.processId, 'SIGSTOP');
    process.kill(victim.pid, 'SIGCONT');
  }
  // The chunk's meta file is written last when the late order creates it.
  await waitFor('the woken chunkserver to create the chunk late', () => access(join(victim.dir, 'chunks', `${chunkId}.meta`)).then(() => true, () => false), 15_000);
  await cluster.kill(master.processId, 'SIGKILL');
  await waitForNewActiveWithStandby(client, master.masterId);

  const stat = await client.stat('/late');
  for (const { chunkId, digests } of await replicaDigests(stat, cluster)) {
    for (const [serverId, digest] of digests) t.is(digest, sha256(data), `chunk ${chunkId} as served by ${serverId}`);
  }
  for (let i = 0; i < 10; i++) t.is(sha256(await client.read('/late')), sha256(data));
});
