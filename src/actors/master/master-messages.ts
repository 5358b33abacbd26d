import type { Ref } from 'nact';
import type { MasterEvent } from '../../core/events.js';
import type * as plan from '../../core/master-planners.js';
import type { Namespace } from '../../core/namespace.js';
import type { Caller } from '../../core/permissions.js';
import type { MessageType, RequestOf } from '../../transport/protocol.js';
import type { Result } from '../../util/result.js';

/** Where the master's events become durable (its journal, and the standby behind it). */
export interface EventSink {
  append(events: MasterEvent[]): Promise<void>;
  checkpoint(ns: Namespace): Promise<{ seq: number; path: string }>;
}

export interface MasterSettings {
  id: string;
  address: string;
  chunkSize: number;
  replication: number;
  heartbeatTimeoutMs: number;
  /** Events between automatic checkpoints. */
  checkpointEvery: number;
  epoch: () => number;
  /** Masters standing by, and how far each lags behind `seq`. */
  standbys: (seq: number) => { id: string; address: string; lag: number | null }[];
  /** Starts streaming events after `seq` to a standby that took the snapshot at `seq`, or after what it holds (`resume`). */
  attachStandby: (standby: plan.ServerRef, seq: number, resume?: StandbyResume) => void;
  /** Chunks whose file was deleted, renamed or replaced: their leases are revoked. */
  onChunksDetached: (chunkIds: string[]) => void;
}

/** A standby that keeps its state holds the events up to `from`; those after it are in the journal once `durable` resolves. */
export interface StandbyResume {
  from: number;
  durable: Promise<void>;
}

/** The `master.create` request a lease request makes its file with. */
export type FileCreation = Omit<RequestOf<'master.create'>, 'path' | 'lease'>;

/** A lease's candidate replicas, and when the events that prepared it (a create, a chunk placed) are durable. */
export interface PreparedLease {
  candidate: plan.LeaseCandidate;
  durable: Promise<void>;
}

/** A put's file made and its chunk placed, as a lease's; or `repeated`: a retry of a put that took effect (its reply was lost). */
export type PreparedPut = PreparedLease | { repeated: true; durable: Promise<void> };

export type MasterMessage =
  /** `caller`: who sent it, as the RPC server verified (permissions are checked for it). */
  | { kind: 'request'; type: MessageType; body: unknown; caller: Caller; sender: Ref<Result<unknown>> }
  /** `from`: the standby resumes from the seq it holds (this master's journal holds the same event); else it takes a snapshot of `ns`. */
  | { kind: 'attach-standby'; standby: plan.ServerRef; from?: number; sender: Ref<Namespace> }
  /**
   * `create`: make (or truncate) the file first, journaled with the chunk placed for the lease (`master.create` with a lease).
   * Answered at once, with `durable`: the grant's calls to the replicas may overlap the journal round, but no client may hear of the lease before it.
   */
  | { kind: 'prepare-lease'; path: string; index: number | 'last'; create?: FileCreation; caller: Caller; sender: Ref<Result<PreparedLease>> }
  /**
   * `master.put`: the file made (or replaced) and its first chunk placed, as
   * for a lease; `requestId` the put's. Answered at once, like a lease's preparation.
   */
  | { kind: 'prepare-put'; path: string; mode?: number; requestId?: string; caller: Caller; sender: Ref<Result<PreparedPut>> }
  /** `put`: the new version carried a put's bytes, so the file's size is journaled with it. */
  | { kind: 'lease-granted'; lease: plan.GrantedLease; put?: plan.PutWritten; sender: Ref<Result<unknown>> }
  /** Chunk lengths primaries reported with their heartbeats: the files' sizes follow them. */
  | { kind: 'chunk-lengths'; lengths: plan.ChunkLength[]; sender: Ref<Result<unknown>> }
  | { kind: 'replication-needs'; sender: Ref<Result<plan.ReplicationNeeds>> }
  | { kind: 'balance-move'; threshold: number; sender: Ref<Result<plan.BalanceMove>> }
  | { kind: 'drop-replica'; chunkId: string; serverId: string; sender: Ref<Result<{ dropped: boolean }>> }
  | { kind: 'replica-copied'; chunkId: string; version: number; serverId: string; length: number; sender: Ref<Result<{ accepted: boolean }>> }
  | { kind: 'expire-dead'; now: number }
  | { kind: 'collect-garbage'; now: number; keepMs: number }
  | { kind: 'chunkserver-gone'; id: string };
