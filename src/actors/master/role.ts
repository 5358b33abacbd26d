import { dispatch, start, stop, type Ref } from 'nact';
import type { ConsoleHost } from '../../console/host.js';
import { consoleRoutes } from '../../console/routes.js';
import { HttpEndpoint } from '../../http/http-endpoint.js';
import { masterGauges, masterMetrics } from '../../metrics/master-metrics.js';
import { createRegistry, metricsRoute } from '../../metrics/registry.js';
import { rpcMetrics } from '../../metrics/rpc-metrics.js';
import { MasterStore } from '../../storage/master-store.js';
import { RpcClient } from '../../transport/rpc-client.js';
import { RpcServer } from '../../transport/rpc-server.js';
import type { MemberCredentials } from '../../security/member-credentials.js';
import type { Logger } from '../../util/logger.js';
import { warnOfStalls } from '../../util/stall-watch.js';
import { watchMasters } from '../../zk/election.js';
import { ensurePaths } from '../../zk/paths.js';
import { watchChunkservers } from '../../zk/registry.js';
import { zkEpochCheck } from '../../zk/epoch-check.js';
import { connectZk, type ZkSession } from '../../zk/session.js';
import { loadOrCreateIdentity } from '../node-identity.js';
import { faultInjectionHandlers } from '../supervision.js';
import { ChunkAccessGrants } from './chunk-access-grants.js';
import { masterHandlers } from './handlers.js';
import type { MasterMessage } from './master-messages.js';
import type { MasterProcess } from './master-process.js';
import { spawnStandbyActor } from './standby-actor.js';
import { SnapshotServer } from './snapshot-server.js';
import { StandbyAttachment } from './standby-attachment.js';
import { StandbyStreams } from './standby-streams.js';
import { Candidacy } from './takeover.js';

/** How long a console request waits for this master's answer. */
const CONSOLE_CALL_TIMEOUT_MS = 10_000;

/**
 * The console's view of this master: its queries go to its own RPC server,
 * answered by the same handlers and query code as a client's request.
 */
function consoleHost(process: MasterProcess): ConsoleHost {
  return {
    id: process.id,
    isActive: () => process.mode === 'active',
    masters: () => process.masters,
    call: async (type, body) => (await process.rpc.call(process.address, type, body, { timeoutMs: CONSOLE_CALL_TIMEOUT_MS })).body,
    rpc: process.rpc,
  };
}

export interface MasterOptions {
  zk: string;
  dir: string;
  host: string;
  port: number;
  /** Port of the HTTP endpoint (metrics, the web console), on `host`; 0 picks a free one. */
  httpPort: number;
  chunkSize: number;
  replication: number;
  /** Chunkservers beat this often. */
  heartbeatMs: number;
  /** A chunkserver silent this long is dead (its ZooKeeper session ending is the other signal). */
  deadAfterMs: number;
  /** ZooKeeper session timeout: how long after a crash this master's election node goes. */
  zkSessionMs: number;
  /** The cluster's keys for this role; without them the process runs without security (`--insecure`). */
  credentials?: MemberCredentials;
  /** Events between automatic checkpoints. */
  checkpointEvery?: number;
  /** How long a chunk lease lasts (extended by the primary's heartbeats). */
  leaseMs: number;
  /** How long deleted files stay in the trash before GC removes them for good. */
  gcIntervalMs: number;
  log: Logger;
  onFatal: (reason: string) => void;
}

export interface RunningMaster {
  id: string;
  address: string;
  /** The port the HTTP endpoint took. */
  httpPort: number;
  isActive(): boolean;
  stop(): Promise<void>;
}

/**
 * A master process. It recovers its namespace from checkpoint + journal, joins
 * the ZooKeeper election and, while another master is active, stands by: it
 * attaches to the active master, installs its snapshot and journals every
 * event the active streams to it. Elected, it takes over (takeover.ts).
 * Losing its ZooKeeper session ends the process: another master may be
 * active by then, and the supervisor starts this one again as a standby.
 */
export async function runMaster(options: MasterOptions): Promise<RunningMaster> {
  const checkpointEvery = options.checkpointEvery ?? 10_000;
  const id = await loadOrCreateIdentity(options.dir, 'master');
  // Every line this process logs names it by the id cluster.json and `ofs status` show.
  const log = options.log.child({ id });
  const registry = createRegistry();
  const metrics = masterMetrics(registry);
  const { store, ...recovered } = await MasterStore.open(options.dir, (msg) => log.warn(msg), metrics.journal);
  log.info({ seq: recovered.ns.seq, files: recovered.table.files }, 'namespace recovered from checkpoint and journal');

  const system = start();
  // The server answers before ZooKeeper is connected: until then, no epoch above 0 can be confirmed.
  let session: ZkSession | undefined;
  const process: MasterProcess = {
    id,
    address: '',
    httpAddress: '',
    mode: 'standby',
    epoch: 0,
    replicationReady: false,
    masters: [],
    standbyActor: spawnStandbyActor(system, recovered, store, checkpointEvery, log),
    attaching: false,
    store,
    snapshots: new SnapshotServer(),
    rpc: new RpcClient(id, () => process.epoch, options.credentials?.identity),
    grants: new ChunkAccessGrants(options.credentials?.chunkTokens.issuer),
    epochs: zkEpochCheck(() => session),
    log,
    metrics,
    sessionSure: () => false, // until connected, below
  };
  const server = await RpcServer.bind(`tcp://${options.host}:${options.port}`, {
    id,
    epoch: () => process.epoch,
    handlers: { ...masterHandlers(process, options.replication), ...faultInjectionHandlers() },
    log,
    metrics: rpcMetrics(registry),
    security: options.credentials?.identity,
  });
  process.address = server.address;
  const http = await HttpEndpoint.listen(options.host, options.httpPort, [metricsRoute(registry), ...consoleRoutes(consoleHost(process), log)], log);
  process.httpAddress = `http://${options.host}:${http.port}`;

  const zk = (session = await connectZk(options.zk, { sessionTimeoutMs: options.zkSessionMs, digest: options.credentials?.zkDigest }));
  zk.onExpired(() => options.onFatal('ZooKeeper session expired: another master may be active now; stepping down'));
  // Half the session timeout: the other half is the margin for the server's clock and tick, and for a
  // request read off the socket now to be answered before the session can have expired.
  process.sessionSure = () => zk.state === 'connected' && zk.confirmedForMs() > zk.sessionTimeoutMs / 2;
  zk.onDisconnected(() => log.warn('disconnected from ZooKeeper: answering nothing until reconnected'));
  const stopStallWatch = warnOfStalls(log, zk.sessionTimeoutMs);
  await ensurePaths(zk);
  const streams = new StandbyStreams(process, zk, store, options.onFatal);
  masterGauges(registry, { isActive: () => process.mode === 'active', standbyLags: () => streams.lags() });
  const attachment = new StandbyAttachment(process);
  const mastersWatch = watchMasters(zk, (list) => {
    process.masters = list;
    attachment.mastersChanged();
  });

  const tellMaster = (msg: MasterMessage): void => {
    if (process.active) dispatch(process.active.master, msg);
  };
  // A chunkserver whose ephemeral znode vanished is dead now, not after missed heartbeats.
  let lastChunkservers = new Set<string>();
  const chunkserversWatch = watchChunkservers(zk, (members) => {
    const present = new Set(members.map((m) => m.id));
    for (const known of lastChunkservers) if (!present.has(known)) tellMaster({ kind: 'chunkserver-gone', id: known });
    lastChunkservers = present;
  });

  const settings = { ...options, checkpointEvery };
  await new Candidacy(process, zk, system, streams, settings, options.onFatal).join();

  const ticks = setInterval(() => {
    const now = Date.now();
    tellMaster({ kind: 'expire-dead', now });
    if (!process.active) return;
    if (process.replicationReady) dispatch(process.active.replication, { kind: 'tick' });
    dispatch(process.active.gc, { kind: 'tick', now });
  }, options.heartbeatMs);

  return {
    id,
    address: process.address,
    httpPort: http.port,
    isActive: () => process.mode === 'active',
    async stop() {
      clearInterval(ticks);
      stopStallWatch();
      attachment.stop();
      process.snapshots.stop();
      mastersWatch.stop();
      chunkserversWatch.stop();
      server.close();
      await http.close();
      process.rpc.close();
      stop(system as Ref<unknown>);
      await zk.close();
      await store.close();
    },
  };
}
