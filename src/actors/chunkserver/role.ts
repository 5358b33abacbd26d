import { dispatch, start, stop, type Ref } from 'nact';
import { ChunkStore, type ChunkInfo } from '../../storage/chunk-store.js';
import { chunkIdOfReplicaActor } from '../../core/chunk-id.js';
import { OfsError } from '../../core/errors.js';
import type { Logger } from '../../util/logger.js';
import { RpcClient } from '../../transport/rpc-client.js';
import { RpcServer } from '../../transport/rpc-server.js';
import { MAX_DATA_FRAME } from '../../transport/protocol.js';
import type { MemberInfo } from '../../zk/registry.js';
import { registerChunkserver } from '../../zk/registry.js';
import { watchMasters } from '../../zk/election.js';
import { connectZk } from '../../zk/session.js';
import { ensurePaths } from '../../zk/paths.js';
import { HeldLeases } from './held-leases.js';
import { COPY_PIECE_BYTES, UNFINISHED_COPY_VERSION, type Mutation, type OrderedMutation } from './chunk-replica-actor.js';
import { askReplica, spawnChunkserverActor } from './chunkserver-actor.js';
import { PushBuffers } from './push-buffers.js';
import { INJECTED_CRASH, requireFaultInjection } from '../supervision.js';
import { loadOrCreateIdentity } from '../node-identity.js';

export interface ChunkserverOptions {
  zk: string;
  dir: string;
  host: string;
  port: number;
  capacity?: number;
  heartbeatMs: number;
  log: Logger;
  /** ZooKeeper session timeout: how long after a crash the master hears of it through ZooKeeper. */
  zkSessionMs: number;
  /** A background scrub verifies one chunk's checksums this often (0: never). */
  scrubIntervalMs: number;
  /** Called when the process must end: its ZooKeeper session is gone. */
  onFatal: (reason: string) => void;
}

export interface RunningChunkserver {
  id: string;
  address: string;
  stop(): Promise<void>;
}

const MAX_READ_BYTES = MAX_DATA_FRAME;
/** The master picks the chunk size; this only guards against nonsense. */
export const MAX_CHUNK_SIZE = 2 ** 30;
const FULL_REPORT_EVERY_BEATS = 30;
/** Re-replication copies this server takes part in at once as a target: client traffic goes on meanwhile. */
const MAX_CONCURRENT_COPIES = 2;
/** Memory for bytes pushed but not yet committed, and how long an uncommitted push is kept. */
const PUSH_BUFFER_BYTES = 256 * 1024 * 1024;
const PUSH_BUFFER_TTL_MS = 60_000;

export async function runChunkserver(options: ChunkserverOptions): Promise<RunningChunkserver> {
  const { log } = options;
  const id = await loadOrCreateIdentity(options.dir, 'cs');
  const store = await ChunkStore.open(options.dir, { capacity: options.capacity, maxChunkSize: MAX_CHUNK_SIZE });
  if (store.damaged.length > 0) log.warn({ damaged: store.damaged }, 'chunks with unreadable metadata were skipped');
  for (const unfinished of store.list().filter((c) => c.version === UNFINISHED_COPY_VERSION)) {
    log.info({ chunkId: unfinished.id, bytes: unfinished.length }, 'deleting a copy that a crash interrupted');
    await store.delete(unfinished.id);
  }
  const system = start();
  const leases = new HeldLeases();
  let copiesRunning = 0;
  const buffers = new PushBuffers(PUSH_BUFFER_BYTES, PUSH_BUFFER_TTL_MS);
  const chunkserver = spawnChunkserverActor(system, store, leases, log);
  let master: MemberInfo | undefined;
  /** The highest epoch any master has shown us: orders from a lower one come from a deposed master. */
  let masterEpoch = 0;
  const fromCurrentMaster = (epoch: number, what: string): boolean => {
    if (epoch < masterEpoch) {
      log.warn({ epoch, masterEpoch, what }, 'ignoring a deposed master');
      return false;
    }
    masterEpoch = epoch;
    return true;
  };
  const rpc = new RpcClient(id, () => masterEpoch);

  const server = await RpcServer.bind(`tcp://${options.host}:${options.port}`, {
    id,
    epoch: () => masterEpoch,
    log,
    handlers: {
      'chunk.push': async (body, data) => {
        const bytes = singleFrame(data, 'chunk.push');
        buffers.put(body.bufferId, bytes, Date.now());
        // Forward down the chain while this hop is done: the client waits for the whole chain.
        await forwardTo(body.chain, (next, chain) => rpc.call(next, 'chunk.push', { ...body, chain }, { data: [bytes] }));
        return { body: {} };
      },
      'chunk.setVersion': async (body, _data, envelope) => {
        const sentAt = Date.now();
        if (!fromCurrentMaster(envelope.epoch, 'chunk.setVersion')) {
          throw new OfsError('ESTALE', `epoch ${envelope.epoch} is below the current master epoch ${masterEpoch}`);
        }
        const info = await askReplica<ChunkInfo>(chunkserver, (sender) => ({ kind: 'set-version', chunkId: body.chunkId, version: body.version, sender }));
        if (body.leaseMs) leases.grant(body.chunkId, body.version, body.leaseMs, sentAt);
        else leases.revoke(body.chunkId);
        return { body: { version: info.version, length: info.length } };
      },
      'chunk.revokeLease': async (body, _data, envelope) => {
        if (fromCurrentMaster(envelope.epoch, 'chunk.revokeLease')) leases.revoke(body.chunkId);
        return { body: {} };
      },
      'chunk.commit': async (body) => {
        const data = buffers.get(body.bufferId, body.length);
        const forward = (ordered: OrderedMutation) =>
          Promise.all(
            body.secondaries.map((secondary) =>
              rpc
                .call(secondary, 'chunk.apply', { chunkId: body.chunkId, version: body.version, serial: ordered.serial, bufferId: ordered.padded ? undefined : body.bufferId, offset: ordered.offset, length: ordered.length })
                .catch((err: OfsError) => {
                  throw new OfsError(err.code, `secondary ${secondary}: ${err.message}`);
                }),
            ),
          );
        const { ordered, durable, forwarded } = await askReplica<{ ordered: OrderedMutation; durable: Promise<unknown>; forwarded: Promise<unknown> }>(
          chunkserver,
          (sender) => ({ kind: 'commit', chunkId: body.chunkId, version: body.version, mode: body.mode, offset: body.offset, data, chunkSize: body.chunkSize, forward, sender }),
        );
        // Success only when every replica applied it (GFS 3.1 step 7); else the client retries.
        await Promise.all([durable, forwarded]);
        buffers.release(body.bufferId);
        return { body: { offset: ordered.offset, padded: ordered.padded } };
      },
      'chunk.apply': async (body) => {
        const mutation: Mutation = body.bufferId
          ? { data: buffers.get(body.bufferId, body.length), offset: body.offset }
          : { pad: true, offset: body.offset, length: body.length };
        const { durable } = await askReplica<{ durable: Promise<unknown> }>(chunkserver, (sender) => ({ kind: 'apply', chunkId: body.chunkId, version: body.version, serial: body.serial, mutation, sender }));
        await durable;
        if (body.bufferId) buffers.release(body.bufferId);
        return { body: {} };
      },
      'chunk.copyFrom': async (body, _data, envelope) => {
        if (!fromCurrentMaster(envelope.epoch, 'chunk.copyFrom')) {
          throw new OfsError('ESTALE', `epoch ${envelope.epoch} is below the current master epoch ${masterEpoch}`);
        }
        if (copiesRunning >= MAX_CONCURRENT_COPIES) {
          throw new OfsError('EUNAVAILABLE', `already copying ${copiesRunning} chunks; try another chunkserver or later`);
        }
        copiesRunning++;
        try {
          const fetch = async (offset: number) =>
            (await rpc.call(body.source, 'chunk.read', { chunkId: body.chunkId, version: body.version, offset, length: COPY_PIECE_BYTES })).data[0] ?? Buffer.alloc(0);
          const info = await askReplica<ChunkInfo>(chunkserver, (sender) => ({ kind: 'copy', chunkId: body.chunkId, version: body.version, fetch, sender }));
          return { body: { length: info.length } };
        } finally {
          copiesRunning--;
        }
      },
      'admin.crashActor': async ({ actor }) => {
        const chunkId = chunkIdOfReplicaActor(actor);
        requireFaultInjection(actor, chunkId !== undefined && store.get(chunkId) !== undefined);
        dispatch(chunkserver, { kind: INJECTED_CRASH, chunkId: chunkId! });
        return { body: { crashed: actor } };
      },
      'chunkserver.report': async (_body, _data, envelope) => {
        if (!fromCurrentMaster(envelope.epoch, 'chunkserver.report')) {
          throw new OfsError('ESTALE', `epoch ${envelope.epoch} is below the current master epoch ${masterEpoch}`);
        }
        return { body: { ...(await load()), chunks: fullReport() } };
      },
      'chunk.read': async (body) => {
        if (body.length > MAX_READ_BYTES) {
          throw new OfsError('EINVAL', `chunk.read of ${body.length} bytes exceeds the ${MAX_READ_BYTES}-byte limit per request`);
        }
        const bytes = await askReplica<Buffer>(chunkserver, (sender) => ({ kind: 'read', chunkId: body.chunkId, version: body.version, offset: body.offset, length: body.length, sender })).catch(
          (err: OfsError) => {
            if (err.code === 'ECORRUPT') void reportCorrupt(body.chunkId, []);
            throw err;
          },
        );
        return { body: { length: bytes.length }, data: [bytes] };
      },
    },
  });
  const address = server.address;

  const load = async () => ({
    id,
    address,
    used: store.usedBytes(),
    free: await store.freeBytes(),
    capacity: store.usedBytes() + (await store.freeBytes()),
    chunkCount: store.list().length,
  });

  const deleteChunks = (ids: string[]): void => {
    for (const chunkId of ids) {
      log.info({ chunkId }, 'deleting chunk the master no longer wants');
      void askReplica(chunkserver, (sender) => ({ kind: 'delete', chunkId, sender })).catch((err) =>
        log.warn({ err, chunkId }, 'chunk delete failed'),
      );
    }
  };

  // A copy under way is not a replica yet; the master hears of it when it is done (chunk.copyFrom's reply).
  const fullReport = () =>
    store
      .list()
      .filter((c) => c.version !== UNFINISHED_COPY_VERSION)
      .map((c) => ({ chunkId: c.id, version: c.version, length: c.length }));

  async function sendFullReport(): Promise<void> {
    if (!master) return;
    try {
      const { body, epoch } = await rpc.call(master.address, 'master.chunkReport', { ...(await load()), full: true, chunks: fullReport() }, { timeoutMs: 10_000 });
      if (fromCurrentMaster(epoch, 'chunk report reply')) deleteChunks(body.deleteChunks);
    } catch (err) {
      // The next heartbeat finds out whether the master needs a full report.
      log.warn({ err: (err as Error).message }, 'chunk report not delivered');
    }
  }

  /** GFS 5.2: tell the master, which stops handing the replica out; delete it once another good one exists. */
  async function reportCorrupt(chunkId: string, blocks: number[]): Promise<void> {
    if (!master) return;
    try {
      const { body, epoch } = await rpc.call(master.address, 'master.reportCorrupt', { id, chunkId, blocks }, { timeoutMs: 10_000 });
      if (body.discard && fromCurrentMaster(epoch, 'corrupt report reply')) deleteChunks([chunkId]);
    } catch (err) {
      log.warn({ chunkId, err: (err as Error).message }, 'corrupt replica not reported; the scrubber will find it again');
    }
  }

  /** The scrubber: one chunk per interval, round robin, so idle data is checked too, at a bounded rate. */
  let scrubNext = 0;
  const scrub = async (): Promise<void> => {
    const chunks = store.list();
    if (chunks.length === 0) return;
    const { id: chunkId } = chunks[scrubNext++ % chunks.length]!;
    const bad = await askReplica<number[]>(chunkserver, (sender) => ({ kind: 'verify', chunkId, sender })).catch(() => []);
    if (bad.length > 0) {
      log.warn({ chunkId, blocks: bad }, 'scrubber found corrupt blocks');
      await reportCorrupt(chunkId, bad);
    }
  };

  let beats = 0;
  const heartbeat = async (): Promise<void> => {
    if (!master) return;
    try {
      const sentAt = Date.now();
      const wanted = leases.wanted(sentAt);
      const { body, epoch } = await rpc.call(master.address, 'master.heartbeat', { ...(await load()), leases: wanted }, { timeoutMs: options.heartbeatMs * 3 });
      if (!fromCurrentMaster(epoch, 'heartbeat reply')) return;
      for (const lease of body.extended) leases.extend(lease.chunkId, lease.version, lease.leaseMs, sentAt);
      deleteChunks(body.deleteChunks);
      // A full report now and then lets the master find garbage it missed (GFS 4.4).
      if (!body.known || ++beats % FULL_REPORT_EVERY_BEATS === 0) await sendFullReport();
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'heartbeat failed');
    }
  };

  const zk = await connectZk(options.zk, { sessionTimeoutMs: options.zkSessionMs });
  zk.onExpired(() => options.onFatal('ZooKeeper session expired'));
  await ensurePaths(zk);
  const masters = watchMasters(zk, (list) => {
    const active = list[0];
    if (active?.address !== master?.address) log.info({ master: active?.address }, 'master changed');
    master = active;
    if (master) void heartbeat();
  });
  await registerChunkserver(zk, { id, address });
  log.info({ id, address, chunks: store.list().length }, 'chunkserver ready');

  let beating = false;
  const timer = setInterval(() => {
    if (beating) return;
    beating = true;
    void heartbeat().finally(() => (beating = false));
  }, options.heartbeatMs);

  let scrubbing = false;
  const scrubber =
    options.scrubIntervalMs > 0
      ? setInterval(() => {
          if (scrubbing) return;
          scrubbing = true;
          void scrub().finally(() => (scrubbing = false));
        }, options.scrubIntervalMs)
      : undefined;

  return {
    id,
    address,
    async stop() {
      clearInterval(timer);
      clearInterval(scrubber);
      masters.stop();
      server.close();
      rpc.close();
      stop(system as Ref<unknown>);
      await zk.close();
    },
  };
}

function singleFrame(data: Buffer[], type: string): Buffer {
  if (data.length !== 1) throw new OfsError('EBADMSG', `${type} needs exactly one data frame, got ${data.length}`);
  return data[0]!;
}

/** Passes a request down the replica chain; the error says which hop failed. */
function forwardTo<T>(chain: string[], send: (next: string, rest: string[]) => Promise<T>): Promise<T | undefined> {
  const [next, ...rest] = chain;
  if (!next) return Promise.resolve(undefined);
  return send(next, rest).catch((err: OfsError) => {
    throw new OfsError(err.code ?? 'EUNAVAILABLE', `replica ${next}: ${err.message}`);
  });
}
