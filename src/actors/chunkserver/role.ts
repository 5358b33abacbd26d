import { randomBytes } from 'node:crypto';
import { spawnStateless, start, stop, type Ref } from 'nact';
import { OfsError } from '../../core/errors.js';
import { HttpEndpoint } from '../../http/http-endpoint.js';
import { chunkserverGauges, chunkStoreMetrics } from '../../metrics/chunkserver-metrics.js';
import { createRegistry, metricsRoute } from '../../metrics/registry.js';
import { rpcMetrics } from '../../metrics/rpc-metrics.js';
import { ChunkStore } from '../../storage/chunk-store.js';
import { RpcClient } from '../../transport/rpc-client.js';
import { RpcServer } from '../../transport/rpc-server.js';
import type { MemberCredentials } from '../../security/member-credentials.js';
import { growHeapForBulkBytes } from '../../util/heap-growth.js';
import type { Logger } from '../../util/logger.js';
import { warnOfStalls } from '../../util/stall-watch.js';
import { watchMasters } from '../../zk/election.js';
import { ensurePaths } from '../../zk/paths.js';
import { registerChunkserver } from '../../zk/registry.js';
import { zkEpochCheck } from '../../zk/epoch-check.js';
import { connectZk, type ZkSession } from '../../zk/session.js';
import { loadOrCreateIdentity } from '../node-identity.js';
import { UNFINISHED_COPY_VERSION } from './chunk-replica-actor.js';
import { ReplicaRouter } from './replica-router.js';
import type { ChunkserverProcess } from './chunkserver-process.js';
import { EpochFence } from './epoch-fence.js';
import { faultInjectionHandlers } from '../supervision.js';
import { chunkHandlers } from './handlers.js';
import { HeldLeases } from './held-leases.js';
import { MasterChannel } from './master-channel.js';
import { PushBuffers } from './push-buffers.js';
import { Scrubber } from './scrubber.js';

export interface ChunkserverOptions {
  zk: string;
  dir: string;
  host: string;
  /** Port of the control socket. */
  port: number;
  /** Port of the data socket (pushes and reads), on `host`; 0 picks a free one. */
  dataPort: number;
  /** CURVE on the data socket too (`--encrypt-data`): bytes encrypted on the wire, at about a quarter of the throughput. */
  encryptData: boolean;
  /** Port of the HTTP endpoint (metrics), on `host`; 0 picks a free one. */
  httpPort: number;
  capacity?: number;
  heartbeatMs: number;
  log: Logger;
  /** ZooKeeper session timeout: how long after a crash the master hears of it through ZooKeeper. */
  zkSessionMs: number;
  /** The cluster's keys for this role; without them the process runs without security (`--insecure`). */
  credentials?: MemberCredentials;
  /** A background scrub verifies one chunk's checksums this often (0: never). */
  scrubIntervalMs: number;
  /** Called when the process must end: its ZooKeeper session is gone. */
  onFatal: (reason: string) => void;
}

export interface RunningChunkserver {
  id: string;
  address: string;
  /** The port the HTTP endpoint took. */
  httpPort: number;
  stop(): Promise<void>;
}

/** The master picks the chunk size; this only guards against nonsense. */
export const MAX_CHUNK_SIZE = 2 ** 30;
/** Memory for bytes pushed but not yet committed, and how long an uncommitted push is kept. */
const PUSH_BUFFER_BYTES = 256 * 1024 * 1024;
const PUSH_BUFFER_TTL_MS = 60_000;

/**
 * A chunkserver process: opens its chunk store (dropping copies a crash
 * interrupted), serves the chunk RPCs, registers in ZooKeeper, beats to the
 * active master and scrubs its chunks. Losing its ZooKeeper session ends the
 * process: the master has dropped it, and the supervisor starts it again.
 */
export async function runChunkserver(options: ChunkserverOptions): Promise<RunningChunkserver> {
  growHeapForBulkBytes();
  const identity = options.credentials?.identity;
  if (options.encryptData && !identity) throw new OfsError('EINVAL', '--encrypt-data needs the cluster’s keys: it cannot go with --insecure');
  const id = await loadOrCreateIdentity(options.dir, 'cs');
  // Every line this process logs names it by the id cluster.json and `ofs status` show.
  const log = options.log.child({ id });
  const registry = createRegistry();
  const store = await ChunkStore.open(options.dir, { capacity: options.capacity, maxChunkSize: MAX_CHUNK_SIZE, metrics: chunkStoreMetrics(registry) });
  if (store.damaged.length > 0) log.warn({ damaged: store.damaged }, 'chunks with unreadable metadata were skipped');
  for (const unfinished of store.list().filter((c) => c.version === UNFINISHED_COPY_VERSION)) {
    log.info({ chunkId: unfinished.id, bytes: unfinished.length }, 'deleting a copy that a crash interrupted');
    await store.delete(unfinished.id);
  }
  const system = start();
  const leases = new HeldLeases();
  // The server answers before ZooKeeper is connected: until then, no epoch above 0 can be confirmed.
  let session: ZkSession | undefined;
  const fence = new EpochFence(log, zkEpochCheck(() => session));
  const process: ChunkserverProcess = {
    id,
    incarnation: randomBytes(8).toString('hex'),
    address: '',
    data: { address: '', curve: options.encryptData },
    tokens: options.credentials?.chunkTokens.verifier,
    store,
    // The replica actors' parent: it handles no messages (see ReplicaRouter).
    replicas: new ReplicaRouter(spawnStateless(system, () => undefined, 'replicas'), store, leases, log),
    leases,
    buffers: new PushBuffers(PUSH_BUFFER_BYTES, PUSH_BUFFER_TTL_MS),
    fence,
    rpc: new RpcClient(id, () => fence.epoch, identity),
    log,
  };
  const master = new MasterChannel(process, options.heartbeatMs);
  const handlers = chunkHandlers(process, master);
  const metrics = rpcMetrics(registry);
  const server = await RpcServer.bind(`tcp://${options.host}:${options.port}`, {
    id,
    epoch: () => fence.epoch,
    log,
    handlers: { ...handlers, ...faultInjectionHandlers() },
    metrics,
    security: identity,
  });
  // The bulk bytes, on a socket of their own so that they need not pay for CURVE (docs/design.md, "Security"):
  // the same handlers, each request authorised by its capability token.
  const dataServer = await RpcServer.bind(`tcp://${options.host}:${options.dataPort}`, {
    id,
    epoch: () => fence.epoch,
    log,
    handlers: { 'chunk.push': handlers['chunk.push'], 'chunk.read': handlers['chunk.read'] },
    metrics,
    security: options.encryptData ? identity : undefined,
    plane: 'data',
  }).catch((err: unknown) => {
    server.close();
    throw err;
  });
  chunkserverGauges(registry, { chunks: () => store.list().length, usedBytes: () => store.usedBytes(), pushBufferBytes: () => process.buffers.heldBytes });
  process.address = server.address;
  process.data.address = dataServer.address;
  const http = await HttpEndpoint.listen(options.host, options.httpPort, [metricsRoute(registry)], log);

  const zk = (session = await connectZk(options.zk, { sessionTimeoutMs: options.zkSessionMs, digest: options.credentials?.zkDigest }));
  zk.onExpired(() => options.onFatal('ZooKeeper session expired'));
  const stopStallWatch = warnOfStalls(log, zk.sessionTimeoutMs);
  await ensurePaths(zk);
  const masters = watchMasters(zk, (list) => master.masterChanged(list[0]));
  await registerChunkserver(zk, { id, address: process.address });
  log.info({ address: process.address, data: process.data, chunks: store.list().length }, 'chunkserver ready');

  const heartbeats = setInterval(() => master.beat(), options.heartbeatMs);
  const scrubber = new Scrubber(process, master, options.scrubIntervalMs);

  return {
    id,
    address: process.address,
    httpPort: http.port,
    async stop() {
      clearInterval(heartbeats);
      stopStallWatch();
      scrubber.stop();
      masters.stop();
      server.close();
      dataServer.close();
      await http.close();
      process.rpc.close();
      process.replicas.close();
      stop(system as Ref<unknown>);
      await store.close();
      await zk.close();
    },
  };
}
