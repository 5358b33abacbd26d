import { start, stop, type Ref } from 'nact';
import { ChunkStore, type ChunkInfo } from '../chunkstore/chunk-store.js';
import { OfsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { RpcClient } from '../transport/rpc-client.js';
import { RpcServer } from '../transport/rpc-server.js';
import { MAX_DATA_FRAME, type RequestOf } from '../transport/protocol.js';
import type { MemberInfo } from '../zk/registry.js';
import { registerChunkserver } from '../zk/registry.js';
import { watchMasters } from '../zk/election.js';
import { connectZk } from '../zk/session.js';
import { ensurePaths } from '../zk/paths.js';
import { askReplica, spawnChunkserverActor } from './chunkserver-actor.js';
import { loadOrCreateIdentity } from './node-identity.js';

export interface ChunkserverOptions {
  zk: string;
  dir: string;
  host: string;
  port: number;
  capacity?: number;
  heartbeatMs: number;
  log: Logger;
  /** Called when the process must end: its ZooKeeper session is gone. */
  onFatal: (reason: string) => void;
}

export interface RunningChunkserver {
  id: string;
  address: string;
  stop(): Promise<void>;
}

const MAX_READ_BYTES = MAX_DATA_FRAME;
const FULL_REPORT_EVERY_BEATS = 30;

export async function runChunkserver(options: ChunkserverOptions): Promise<RunningChunkserver> {
  const { log } = options;
  const id = await loadOrCreateIdentity(options.dir, 'cs');
  const store = await ChunkStore.open(options.dir, { capacity: options.capacity });
  if (store.damaged.length > 0) log.warn({ damaged: store.damaged }, 'chunks with unreadable metadata were skipped');
  const system = start();
  const chunkserver = spawnChunkserverActor(system, store);
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
      'chunk.write': async (body, data) => {
        const bytes = singleFrame(data, 'chunk.write');
        const forward = forwardTo(body.chain, (next, chain) =>
          rpc.call(next, 'chunk.write', { ...body, chain }, { data: [bytes] }),
        );
        const local = askReplica<ChunkInfo>(chunkserver, (sender) => ({ kind: 'write', chunkId: body.chunkId, version: body.version, offset: body.offset, data: bytes, sender }));
        const [info] = await Promise.all([local, forward]);
        return { body: { length: info.length } };
      },
      'chunk.seal': async (body) => {
        const forward = forwardTo(body.chain, (next, chain) => rpc.call(next, 'chunk.seal', { ...body, chain }));
        const local = askReplica<ChunkInfo>(chunkserver, (sender) => ({ kind: 'seal', chunkId: body.chunkId, version: body.version, length: body.length, sender }));
        const [info] = await Promise.all([local, forward]);
        await reportChunks(false, [{ chunkId: info.id, version: info.version, length: info.length }]);
        return { body: { length: info.length } };
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
        const bytes = await askReplica<Buffer>(chunkserver, (sender) => ({ kind: 'read', chunkId: body.chunkId, version: body.version, offset: body.offset, length: body.length, sender }));
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

  const fullReport = () => store.list().map((c) => ({ chunkId: c.id, version: c.version, length: c.length }));

  async function reportChunks(full: boolean, chunks: RequestOf<'master.chunkReport'>['chunks']): Promise<void> {
    if (!master) return;
    try {
      const { body, epoch } = await rpc.call(master.address, 'master.chunkReport', { ...(await load()), full, chunks }, { timeoutMs: 10_000 });
      if (fromCurrentMaster(epoch, 'chunk report reply')) deleteChunks(body.deleteChunks);
    } catch (err) {
      // The next heartbeat finds out whether the master needs a full report.
      log.warn({ err: (err as Error).message, full }, 'chunk report not delivered');
    }
  }

  let beats = 0;
  const heartbeat = async (): Promise<void> => {
    if (!master) return;
    try {
      const { body, epoch } = await rpc.call(master.address, 'master.heartbeat', await load(), { timeoutMs: options.heartbeatMs * 3 });
      if (!fromCurrentMaster(epoch, 'heartbeat reply')) return;
      deleteChunks(body.deleteChunks);
      // A full report now and then lets the master find garbage it missed (GFS 4.4).
      if (!body.known || ++beats % FULL_REPORT_EVERY_BEATS === 0) await reportChunks(true, fullReport());
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'heartbeat failed');
    }
  };

  const zk = await connectZk(options.zk);
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

  return {
    id,
    address,
    async stop() {
      clearInterval(timer);
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
