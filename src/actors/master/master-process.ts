import type { Ref } from 'nact';
import { OfsError } from '../../core/errors.js';
import type { MasterMetrics } from '../../metrics/master-metrics.js';
import type { MasterStore } from '../../storage/master-store.js';
import type { RpcClient } from '../../transport/rpc-client.js';
import type { EpochCheck } from '../../zk/epoch-check.js';
import type { Logger } from '../../util/logger.js';
import type { MemberInfo } from '../../zk/registry.js';
import type { ChunkAccessGrants } from './chunk-access-grants.js';
import type { GarbageMessage } from './garbage-collector.js';
import type { LeaseMessage } from './lease-manager.js';
import type { MasterMessage } from './master-messages.js';
import type { ReplicationMessage } from './replication-manager.js';
import type { SnapshotServer } from './snapshot-server.js';
import type { StandbyMessage } from './standby-actor.js';

/** The actors of an active master, spawned when it takes over. */
export interface ActiveActors {
  master: Ref<MasterMessage>;
  leases: Ref<LeaseMessage>;
  replication: Ref<ReplicationMessage>;
  gc: Ref<GarbageMessage>;
}

/**
 * What the parts of one master process share: who it is, whether it stands
 * by or serves, and its actors. The parts (RPC handlers, standby attachment,
 * takeover) read it; only the takeover and the standby attachment change it.
 */
export interface MasterProcess {
  id: string;
  address: string;
  /** Its HTTP endpoint, `http://host:port`: advertised in its election znode so a standby's console can send people to the active one's. */
  httpAddress: string;
  mode: 'standby' | 'taking-over' | 'active';
  /** This master's epoch once it took over (0 while it stands by). */
  epoch: number;
  /** Set once it is active. */
  active?: ActiveActors;
  /** No re-replication before the chunkservers have reported to a new master (HDFS's safe mode). */
  replicationReady: boolean;
  /** The masters in the election as last watched; the first is the active one. */
  masters: MemberInfo[];
  standbyActor: Ref<StandbyMessage>;
  /**
   * A standby attaching to the active master (its snapshot fetched, loaded,
   * installed: a million files take seconds): its appends are answered EBUSY
   * at once, not queued behind the install until they time out and the
   * active counts it unreachable.
   */
  attaching: boolean;
  /** Its checkpoints and journal. */
  store: MasterStore;
  /** An active master's snapshots being pulled by attaching standbys. */
  snapshots: SnapshotServer;
  rpc: RpcClient;
  /** Data sockets and capability tokens for the chunks it hands out. */
  grants: ChunkAccessGrants;
  /** Confirms with ZooKeeper an epoch that another master claims (a standby's appends). */
  epochs: EpochCheck;
  log: Logger;
  /** Counters for its actors to report to. */
  metrics: MasterMetrics;
  /**
   * Whether ZooKeeper surely still holds this master's session, so that no
   * other master can have been elected: an active master answers nothing
   * otherwise (cut off from ZooKeeper, it would go on answering from state
   * its successor has already changed).
   */
  sessionSure: () => boolean;
}

/** The active master's actors, or ENOTACTIVE that tells the client to look again. */
export function activeActors(process: MasterProcess): ActiveActors {
  if (!process.active) throw new OfsError('ENOTACTIVE', `master ${process.id} is not the active master; ask ZooKeeper for the active one`);
  if (!process.sessionSure()) {
    throw new OfsError('ENOTACTIVE', `master ${process.id} has not heard from ZooKeeper lately and may have been replaced; ask ZooKeeper for the active one`);
  }
  return process.active;
}
