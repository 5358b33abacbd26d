import { dispatch, query, start, stop, type Ref } from 'nact';
import { OfsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { MasterStore } from '../core/master-store.js';
import type { Namespace } from '../core/namespace.js';
import { protocol, type MessageType, type ReplyOf } from '../transport/protocol.js';
import { RpcClient } from '../transport/rpc-client.js';
import { RpcServer, type HandlerMap } from '../transport/rpc-server.js';
import { listMasters, MasterElection, watchMasters } from '../zk/election.js';
import { incrementEpoch } from '../zk/epoch.js';
import { readInSync, writeInSync } from '../zk/in-sync.js';
import { ensurePaths } from '../zk/paths.js';
import { listChunkservers, watchChunkservers, type MemberInfo } from '../zk/registry.js';
import { connectZk } from '../zk/session.js';
import { askMasterActor, spawnMasterActor, type BalanceMove, type MasterMessage, type MasterOutcome } from './master-actor.js';
import { spawnLeaseManager, type LeaseMessage, type LeaseOutcome } from './lease-manager.js';
import { spawnReplicationManager, type BalanceProgress, type ReplicationMessage } from './replication-manager.js';
import { spawnGarbageCollector, type GarbageMessage } from './garbage-collector.js';
import { loadOrCreateIdentity } from './node-identity.js';
import { spawnStandbyActor, type StandbyMessage, type StandbyOutcome } from './standby-actor.js';
import { StandbyReplicator } from './standby-replicator.js';
import { INJECTED_CRASH, requireFaultInjection } from './supervision.js';

export interface MasterOptions {
  zk: string;
  dir: string;
  host: string;
  port: number;
  chunkSize: number;
  replication: number;
  /** Chunkservers beat this often. */
  heartbeatMs: number;
  /** A chunkserver silent this long is dead (its ZooKeeper session ending is the other signal). */
  deadAfterMs: number;
  /** ZooKeeper session timeout: how long after a crash this master's election node goes. */
  zkSessionMs: number;
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
  isActive(): boolean;
  stop(): Promise<void>;
}

const QUERY_TIMEOUT_MS = 30_000;
/** Re-replication throttle: copies per chunkserver (source or target) and in all at once. */
const MAX_COPIES_PER_SERVER = 2;
const MAX_COPIES = 8;
/** How often a standby confirms that the active master streams events to it. */
const STANDBY_CHECK_MS = 3_000;
const MASTER_TYPES = (Object.keys(protocol) as MessageType[]).filter((t) => t.startsWith('master.'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A master process. It recovers its namespace from checkpoint + journal, joins
 * the ZooKeeper election and, while another master is active, stands by: it
 * attaches to the active master, installs its snapshot and journals every
 * event the active streams to it. Elected, it takes a new epoch, takes over
 * the standby's state, asks every chunkserver for its chunks, and serves.
 */
export async function runMaster(options: MasterOptions): Promise<RunningMaster> {
  const { log } = options;
  const checkpointEvery = options.checkpointEvery ?? 10_000;
  const id = await loadOrCreateIdentity(options.dir, 'master');
  const { store, ns: recovered } = await MasterStore.open(options.dir, (msg) => log.warn(msg));
  log.info({ id, seq: recovered.seq }, 'namespace recovered from checkpoint and journal');

  const system = start();
  let epoch = 0;
  let mode: 'standby' | 'taking-over' | 'active' = 'standby';
  let actor: Ref<MasterMessage> | undefined;
  let leaseManager: Ref<LeaseMessage> | undefined;
  let replicationManager: Ref<ReplicationMessage> | undefined;
  let garbageCollector: Ref<GarbageMessage> | undefined;
  let replicationReady = false;
  let masters: MemberInfo[] = [];
  let attachedTo: string | undefined;
  const standbyActor = spawnStandbyActor(system, recovered, store, checkpointEvery, log);
  const replicators = new Map<string, StandbyReplicator>();
  const inSyncStandbys = new Set<string>();
  const rpc = new RpcClient(id, () => epoch);

  const askActive = async (type: MessageType, body: unknown) => {
    if (!actor) throw new OfsError('ENOTACTIVE', `master ${id} is not the active master; ask ZooKeeper for the active one`);
    const outcome = (await query(actor, (sender) => ({ kind: 'request', type, body, sender }) as MasterMessage, QUERY_TIMEOUT_MS)) as MasterOutcome;
    if (!outcome.ok) throw new OfsError(outcome.code, outcome.message);
    return { body: outcome.body };
  };
  const askStandby = async (make: (sender: Ref<StandbyOutcome>) => StandbyMessage): Promise<number> => {
    const outcome = (await query(standbyActor, make as never, QUERY_TIMEOUT_MS)) as StandbyOutcome;
    if (!outcome.ok) throw new OfsError(outcome.code, outcome.message);
    return outcome.seq;
  };

  const handlers: HandlerMap = {
    ...Object.fromEntries(MASTER_TYPES.map((type) => [type, (body: unknown) => askActive(type, body)])),
    'master.lease': async (body) => {
      if (!leaseManager) throw new OfsError('ENOTACTIVE', `master ${id} is not the active master`);
      const outcome = (await query(leaseManager, (sender) => ({ kind: 'lease', ...body, sender }) as LeaseMessage, QUERY_TIMEOUT_MS)) as LeaseOutcome;
      if (!outcome.ok) throw new OfsError(outcome.code, outcome.message);
      return { body: outcome.lease };
    },
    'master.locate': async (body) => {
      const located = (await askActive('master.locate', body)).body as ReplyOf<'master.locate'>;
      if (!leaseManager || located.chunks.length === 0) return { body: located };
      const chunkIds = located.chunks.map((c) => c.chunkId);
      const primaries = (await query(leaseManager, (sender) => ({ kind: 'primaries', chunkIds, sender }) as LeaseMessage, QUERY_TIMEOUT_MS)) as (string | null)[];
      return { body: { ...located, chunks: located.chunks.map((c, i) => ({ ...c, primary: primaries[i] ?? null })) } };
    },
    'master.heartbeat': async (body) => {
      const { body: beat } = await askActive('master.heartbeat', body);
      const extended = body.leases.length === 0 || !leaseManager ? [] : ((await query(leaseManager, (sender) => ({ kind: 'extend', serverId: body.id, leases: body.leases, sender }) as LeaseMessage, QUERY_TIMEOUT_MS)) as ReplyOf<'master.heartbeat'>['extended']);
      return { body: { ...(beat as ReplyOf<'master.heartbeat'>), extended } };
    },
    'master.attachStandby': async (standby) => {
      if (!actor) throw new OfsError('ENOTACTIVE', `master ${id} is not the active master`);
      const ns = (await query(actor, (sender) => ({ kind: 'attach-standby', standby, sender }) as MasterMessage, QUERY_TIMEOUT_MS)) as Namespace;
      return { body: { seq: ns.seq }, data: [Buffer.from(JSON.stringify(ns))] };
    },
    'master.balance': async ({ threshold }) => {
      if (!replicationManager) throw new OfsError('ENOTACTIVE', `master ${id} is not the active master`);
      const progress = (await query(replicationManager, (sender) => ({ kind: 'balance', threshold, sender }) as ReplicationMessage, QUERY_TIMEOUT_MS)) as BalanceProgress;
      // The spread as of now (a dry run of the planner), not as of the last move.
      const { spread } = await askMasterActor<BalanceMove>(actor!, (sender) => ({ kind: 'balance-move', threshold, sender })).catch(() => progress);
      return { body: { ...progress, spread } };
    },
    'admin.crashActor': async ({ actor: name }) => {
      const actors: Record<string, Ref<never> | undefined> = {
        master: actor as Ref<never>,
        'lease-manager': leaseManager as Ref<never>,
        'replication-manager': replicationManager as Ref<never>,
        standby: standbyActor as Ref<never>,
      };
      const target = actors[name];
      requireFaultInjection(name, target !== undefined);
      dispatch(target!, { kind: INJECTED_CRASH } as never);
      return { body: { crashed: name } };
    },
    'standby.append': async (body, _data, envelope) => {
      if (mode !== 'standby') throw new OfsError('ESTALE', `master ${id} is active at epoch ${epoch}: it takes no events from another master`);
      const seq = await askStandby((sender) => ({ kind: 'append', events: body.events, epoch: envelope.epoch, sender }));
      return { body: { seq } };
    },
  };
  const server = await RpcServer.bind(`tcp://${options.host}:${options.port}`, { id, epoch: () => epoch, handlers, log });
  const address = server.address;

  const zk = await connectZk(options.zk, { sessionTimeoutMs: options.zkSessionMs });
  zk.onExpired(() => options.onFatal('ZooKeeper session expired: another master may be active now; stepping down'));
  await ensurePaths(zk);

  const recordInSync = () => writeInSync(zk, epoch, [id, ...inSyncStandbys]);

  const attachStandby = (standby: { id: string; address: string }, seq: number): void => {
    const previous = replicators.get(standby.id);
    const replicator = new StandbyReplicator(
      standby,
      seq,
      rpc,
      {
        // Asked of ZooKeeper itself, not our watched copy, which may not show a standby that just joined.
        isRegistered: async () => (await listMasters(zk)).some((m) => m.id === standby.id),
        onInSync: async () => {
          inSyncStandbys.add(standby.id);
          await recordInSync();
        },
        onDetach: async () => {
          if (replicators.get(standby.id) === replicator) replicators.delete(standby.id);
          inSyncStandbys.delete(standby.id);
          await recordInSync();
        },
        onFenced: (why) => options.onFatal(`fenced: ${why}`),
      },
      log,
    );
    previous?.supersede(replicator);
    replicators.set(standby.id, replicator);
    log.info({ standby: standby.id, seq }, 'standby attached');
  };

  const sink = {
    append: async (events: Parameters<StandbyReplicator['replicate']>[0]) => {
      await Promise.all([store.append(events), ...[...replicators.values()].map((r) => r.replicate(events))]);
    },
    checkpoint: (ns: Namespace) => store.checkpoint(ns),
  };

  /** A standby keeps itself attached to whichever master is active. */
  let attaching = false;
  const attachToActive = async (): Promise<void> => {
    if (attaching) return;
    attaching = true;
    try {
      while (mode === 'standby') {
        const active = masters[0];
        if (!active || active.id === id || active.id === attachedTo) return;
        try {
          const { data } = await rpc.call(active.address, 'master.attachStandby', { id, address }, { timeoutMs: QUERY_TIMEOUT_MS });
          const ns = JSON.parse(data[0]!.toString('utf8')) as Namespace;
          await askStandby((sender) => ({ kind: 'install', ns, sender }));
          attachedTo = active.id;
          log.info({ active: active.id, seq: ns.seq }, 'standing by: attached to the active master');
          return;
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'attach to the active master failed; retrying');
          await sleep(300);
        }
      }
    } finally {
      attaching = false;
    }
  };

  const mastersWatch = watchMasters(zk, (list) => {
    masters = list;
    if (mode === 'standby' && masters[0]?.id !== attachedTo) void attachToActive();
  });

  let lastChunkservers = new Set<string>();
  const tellActor = (msg: MasterMessage): void => {
    if (actor) dispatch(actor, msg);
  };
  // A chunkserver whose ephemeral znode vanished is dead now, not after missed heartbeats.
  const chunkserversWatch = watchChunkservers(zk, (members) => {
    const present = new Set(members.map((m) => m.id));
    for (const known of lastChunkservers) if (!present.has(known)) tellActor({ kind: 'chunkserver-gone', id: known });
    lastChunkservers = present;
  });

  /** After a takeover: chunk locations are soft state, so ask every chunkserver what it holds. */
  const collectChunkReports = async (): Promise<void> => {
    const members = await listChunkservers(zk);
    await Promise.all(
      members.map(async (member) => {
        try {
          const { body } = await rpc.call(member.address, 'chunkserver.report', {}, { timeoutMs: 10_000 });
          await askActive('master.chunkReport', { ...body, full: true });
        } catch (err) {
          log.warn({ chunkserver: member.id, err: (err as Error).message }, 'no chunk report; waiting for its heartbeat');
        }
      }),
    );
  };

  let election: MasterElection;
  const becomeActive = async (): Promise<void> => {
    // A master that fell out of the in-sync set may lack acknowledged events:
    // it must not serve while one that has them can come back.
    const inSync = await readInSync(zk);
    if (inSync && inSync.members.length > 0 && !inSync.members.includes(id)) {
      log.warn({ inSync: inSync.members }, 'elected but not in sync: yielding until an in-sync master is back');
      await election.resign();
      while (!masters.some((m) => inSync.members.includes(m.id))) await sleep(500);
      await joinElection();
      return;
    }
    mode = 'taking-over';
    epoch = await incrementEpoch(zk);
    await writeInSync(zk, epoch, [id]);
    const ns = (await query(standbyActor, (sender) => ({ kind: 'take-over', sender }) as StandbyMessage, QUERY_TIMEOUT_MS)) as Namespace;
    actor = spawnMasterActor(
      system,
      ns,
      {
        id,
        address,
        chunkSize: options.chunkSize,
        replication: options.replication,
        heartbeatTimeoutMs: options.deadAfterMs,
        checkpointEvery,
        epoch: () => epoch,
        standbys: (seq) =>
          masters.filter((m) => m.id !== id).map((m) => ({ id: m.id, address: m.address, lag: replicators.get(m.id)?.lag(seq) ?? null })),
        attachStandby,
        onChunksDetached: (chunkIds) => {
          if (leaseManager) dispatch(leaseManager, { kind: 'revoke', chunkIds });
        },
      },
      sink,
      log,
    );
    leaseManager = spawnLeaseManager(system, actor, rpc, { leaseMs: options.leaseMs, chunkSize: options.chunkSize }, log);
    replicationManager = spawnReplicationManager(
      system,
      actor,
      leaseManager,
      rpc,
      { maxCopiesPerServer: MAX_COPIES_PER_SERVER, maxCopies: MAX_COPIES, chunkSize: options.chunkSize, balanceSettleMs: 2 * options.heartbeatMs },
      log,
    );
    garbageCollector = spawnGarbageCollector(system, actor, options.gcIntervalMs);
    mode = 'active';
    log.info({ id, address, epoch, seq: ns.seq }, 'elected: serving as the active master');
    // Safe mode, as in HDFS: no re-replication until the chunkservers have reported, or
    // replicas not yet reported would look missing and be copied (and versions bumped) for nothing.
    void collectChunkReports().finally(() => setTimeout(() => (replicationReady = true), options.deadAfterMs));
  };
  const joinElection = async (): Promise<void> => {
    election = await MasterElection.join(zk, { id, address });
    election.onElected(() =>
      becomeActive().catch((err: Error) => options.onFatal(`could not take over as active master: ${err.message}`)),
    );
    if (!election.isActive()) log.info({ id, address }, 'standing by: another master is active');
  };
  await joinElection();

  // A standby checks that the active still streams to it (it lists it with a lag) and attaches
  // again if not: an attach whose effect was lost must not leave it silently out of sync.
  const attachCheck = setInterval(() => {
    const active = masters[0];
    if (mode !== 'standby' || attaching || !active || active.id === id) return;
    rpc
      .call(active.address, 'master.status', {}, { timeoutMs: 5_000 })
      .then(({ body }) => {
        if (mode !== 'standby' || body.standby.some((s) => s.id === id && s.lag !== null)) return;
        log.warn({ active: active.id }, 'the active master is not streaming to this standby: attaching again');
        attachedTo = undefined;
        void attachToActive();
      })
      .catch(() => undefined);
  }, STANDBY_CHECK_MS);

  const expiry = setInterval(() => {
    tellActor({ kind: 'expire-dead', now: Date.now() });
    if (replicationManager && replicationReady) dispatch(replicationManager, { kind: 'tick' });
    if (garbageCollector) dispatch(garbageCollector, { kind: 'tick', now: Date.now() });
  }, options.heartbeatMs);

  return {
    id,
    address,
    isActive: () => mode === 'active',
    async stop() {
      clearInterval(expiry);
      clearInterval(attachCheck);
      mastersWatch.stop();
      chunkserversWatch.stop();
      server.close();
      rpc.close();
      stop(system as Ref<unknown>);
      await zk.close();
      await store.close();
    },
  };
}
