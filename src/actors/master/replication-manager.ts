import { dispatch, spawn, type Ref } from 'nact';
import { BALANCED_SPREAD } from '../../core/balance.js';
import { OfsError } from '../../core/errors.js';
import type { BalanceMove, LeaseCandidate, ReplicationNeeds, ServerRef } from '../../core/master-planners.js';
import { byReplicationPriority } from '../../core/replication-priority.js';
import type { ChunkToken } from '../../security/chunk-token.js';
import type { RpcClient } from '../../transport/rpc-client.js';
import { ask, askResult } from '../../util/ask.js';
import type { Logger } from '../../util/logger.js';
import { crashable, resetOnCrash } from '../supervision.js';
import type { LeaseMessage } from './lease-manager.js';
import type { MasterMessage } from './master-messages.js';

export type ReplicationMessage =
  | { kind: 'tick' }
  /** What a check found: chunks short of replicas, and which of them are being written (their primary holds a lease). */
  | { kind: 'needs'; needs: ReplicationNeeds; beingWritten: Set<string> }
  /** With nothing to restore: the next balancing move, if the spread calls for one. */
  | { kind: 'balance-planned'; plan: BalanceMove }
  | { kind: 'check-failed'; err: Error }
  /** `targetFailed`: the target itself failed the copy (not the version bump before it). */
  | { kind: 'copy-done'; chunkId: string; source: string; target: string; ok: boolean; targetFailed?: boolean; balancing?: boolean; moved?: boolean; bytes?: number }
  /** `ofs balance`: balance down to `threshold` now; answers with the progress so far. */
  | { kind: 'balance'; threshold: number; sender: Ref<BalanceProgress> }
  /** The copies under way and balancing's progress, for the console; changes nothing. */
  | { kind: 'progress'; sender: Ref<ReplicationProgress> };

export interface BalanceProgress {
  spread: number;
  moved: number;
  /** Bytes of the replicas moved (for `ofs balance`'s MiB/s). */
  movedBytes: number;
  threshold: number;
}

export interface ReplicationProgress extends BalanceProgress {
  copies: { chunkId: string; source: string; target: string }[];
}

function balanceProgress({ spread, moved, movedBytes, threshold }: ReplicationState): BalanceProgress {
  return { spread, moved, movedBytes, threshold };
}

interface Copy {
  source: string;
  target: string;
}

interface ReplicationState {
  /** A check (asking the master what needs copying) is under way: ticks meanwhile are skipped. */
  checking: boolean;
  copying: Map<string, Copy>;
  /** Copies each chunkserver takes part in now, as source or target. */
  busy: Map<string, number>;
  /** `chunk@target` → until when that target is passed over for that chunk, after it failed a copy of it. */
  failed: Map<string, number>;
  /** Balancing: the fill spread to reach (lowered by `ofs balance`), and replicas moved so far. */
  threshold: number;
  moved: number;
  movedBytes: number;
  spread: number;
  /** No balancing move before this time: the servers' reported use must first show the last one. */
  nextMoveAt: number;
}

export interface ReplicationSettings {
  /** Copies one chunkserver takes part in at once (source or target). */
  maxCopiesPerServer: number;
  /** Copies under way in the whole cluster at once. */
  maxCopies: number;
  chunkSize: number;
  /**
   * Pause after a balancing move. The source deletes its copy only on its
   * next heartbeat, and reports its use on the one after, so a move planned
   * sooner would see the old fills and overshoot, moving replicas back and forth.
   */
  balanceSettleMs: number;
  /** Read access for chunkserver `target` to copy the chunk from its source (none without security). */
  copyToken: (chunkId: string, version: number, target: string) => ChunkToken | undefined;
  metrics: ReplicationMetrics;
}

/** What the replication manager reports (metrics, at the edge). */
export interface ReplicationMetrics {
  /** Chunks short of replicas, as the last check found them. */
  backlog(chunks: number): void;
  /** A copy (re-replication or balancing) that the master took: the bytes the target copied. */
  copied(bytes: number): void;
}

const COPY_TIMEOUT_MS = 120_000;
/**
 * How long a target that failed a copy is passed over for that chunk: long
 * enough to try the others, short enough that a server that recovers (or is
 * the only spare) is tried again.
 */
const FAILED_TARGET_PAUSE_MS = 10_000;

/** The target could not take the copy (it failed, refused or is out of room). */
class TargetFailure extends Error {}

/**
 * The replication manager (GFS 4.3): brings every chunk back to its replica
 * count after chunkservers die, in the order of byReplicationPriority. Each
 * copy goes chunkserver to chunkserver, never through the master, under a
 * fresh version (so that it cannot miss a mutation), and the number of copies
 * is capped per chunkserver and in total so client traffic keeps going.
 */
export function spawnReplicationManager(
  parent: Ref<unknown>,
  master: Ref<MasterMessage>,
  leases: Ref<LeaseMessage>,
  rpc: RpcClient,
  settings: ReplicationSettings,
  log: Logger,
): Ref<ReplicationMessage> {
  const askMaster = askResult(master);

  /** One copy: a new version on the live replicas, then the target pulls the chunk from the source. Resolves with the bytes copied. */
  const copy = async (chunk: LeaseCandidate, source: ServerRef, target: ServerRef): Promise<number> => {
    const version = await askResult(leases)<number>((sender) => ({ kind: 'bump', candidate: chunk, sender }));
    const { body } = await rpc
      .call(
        target.address,
        'chunk.copyFrom',
        { chunkId: chunk.chunkId, version, source: source.address, token: settings.copyToken(chunk.chunkId, version, target.id) },
        { timeoutMs: COPY_TIMEOUT_MS },
      )
      .catch((err: Error) => {
        throw new TargetFailure(`${target.id} could not copy chunk ${chunk.chunkId} from ${source.id}: ${err.message}`);
      });
    const { accepted } = await askMaster<{ accepted: boolean }>((sender) => ({ kind: 'replica-copied', chunkId: chunk.chunkId, version, serverId: target.id, length: body.length, sender }));
    if (!accepted) throw new OfsError('ESTALE', `chunk ${chunk.chunkId} changed version while it was copied`);
    settings.metrics.copied(body.length);
    log.info({ chunkId: chunk.chunkId, from: source.id, to: target.id, version, bytes: body.length }, 'chunk re-replicated');
    return body.length;
  };

  /** Picks copies for the neediest chunks within the limits; returns them to start. */
  const plan = (state: ReplicationState, needs: ReplicationNeeds, beingWritten: Set<string>, now: number) => {
    const passedOver = (chunkId: string, serverId: string) => (state.failed.get(`${chunkId}@${serverId}`) ?? 0) > now;
    const load = (id: string) => state.busy.get(id) ?? 0;
    const ordered = byReplicationPriority(needs.chunks.map((c) => ({ ...c, inUse: c.readLately || beingWritten.has(c.chunkId) })));
    const started: { chunk: LeaseCandidate; source: ServerRef; target: ServerRef }[] = [];
    for (const chunk of ordered) {
      if (state.copying.size + started.length >= settings.maxCopies) break;
      if (state.copying.has(chunk.chunkId)) continue;
      const source = [...chunk.candidates].sort((a, b) => load(a.id) - load(b.id))[0];
      const holders = new Set(chunk.candidates.map((c) => c.id));
      const target = needs.servers
        .filter((s) => !holders.has(s.id) && s.free >= settings.chunkSize && load(s.id) < settings.maxCopiesPerServer && !passedOver(chunk.chunkId, s.id))
        .sort((a, b) => load(a.id) - load(b.id) || b.free - a.free)[0];
      if (!source || !target || load(source.id) >= settings.maxCopiesPerServer) continue;
      reserve(state, chunk.chunkId, source.id, target.id);
      started.push({ chunk, source, target });
    }
    return started;
  };

  /** Starts a copy; its end comes back to the actor as copy-done. */
  const startCopy = (self: Ref<ReplicationMessage>, chunk: LeaseCandidate, source: ServerRef, target: ServerRef): void => {
    const done = { kind: 'copy-done', chunkId: chunk.chunkId, source: source.id, target: target.id } as const;
    copy(chunk, source, target).then(
      () => dispatch(self, { ...done, ok: true }),
      (err: Error) => {
        log.warn({ chunkId: chunk.chunkId, from: source.id, to: target.id, err: err.message }, 'chunk copy failed; will retry');
        dispatch(self, { ...done, ok: false, targetFailed: err instanceof TargetFailure });
      },
    );
  };

  /** Moves one replica from a fuller chunkserver to an emptier one: a copy, then the source's replica dropped. */
  const startMove = (self: Ref<ReplicationMessage>, { chunk, from, to }: NonNullable<BalanceMove['move']>): void => {
    const done = { kind: 'copy-done', chunkId: chunk.chunkId, source: from.id, target: to.id, balancing: true } as const;
    copy(chunk, from, to)
      .then(async (bytes) => ({ bytes, ...(await askMaster<{ dropped: boolean }>((sender) => ({ kind: 'drop-replica', chunkId: chunk.chunkId, serverId: from.id, sender }))) }))
      .then(
        ({ bytes, dropped }) => {
          log.info({ chunkId: chunk.chunkId, from: from.id, to: to.id, dropped }, 'replica moved to even out disk use');
          dispatch(self, { ...done, ok: true, moved: dropped, bytes });
        },
        (err: Error) => {
          log.warn({ chunkId: chunk.chunkId, err: err.message }, 'balancing move failed');
          dispatch(self, { ...done, ok: false, targetFailed: err instanceof TargetFailure });
        },
      );
  };

  /** Asks the master what needs copying, and the lease manager which of those chunks are being written. */
  const check = async (): Promise<ReplicationMessage> => {
    const needs = await askMaster<ReplicationNeeds>((sender) => ({ kind: 'replication-needs', sender }));
    if (needs.chunks.length === 0) return { kind: 'needs', needs, beingWritten: new Set() };
    const chunkIds = needs.chunks.map((c) => c.chunkId);
    const primaries = await ask(leases)((sender: Ref<(string | null)[]>) => ({ kind: 'primaries', chunkIds, sender }));
    return { kind: 'needs', needs, beingWritten: new Set(chunkIds.filter((_, i) => primaries[i] !== null)) };
  };

  const reserve = (state: ReplicationState, chunkId: string, source: string, target: string): void => {
    state.copying.set(chunkId, { source, target });
    for (const id of [source, target]) state.busy.set(id, (state.busy.get(id) ?? 0) + 1);
  };

  return spawn(
    parent,
    crashable('replication-manager', (state: ReplicationState, msg: ReplicationMessage, ctx: { self: Ref<ReplicationMessage> }): ReplicationState => {
      const failed = (err: Error): void => dispatch(ctx.self, { kind: 'check-failed', err });
      switch (msg.kind) {
        case 'tick':
          if (state.checking) return state;
          check().then((found) => dispatch(ctx.self, found), failed);
          return { ...state, checking: true };
        case 'needs': {
          settings.metrics.backlog(msg.needs.chunks.length);
          // Restoring replicas comes first; balancing moves one replica at a time when nothing else is copying.
          if (msg.needs.chunks.length === 0) {
            if (state.copying.size > 0 || Date.now() < state.nextMoveAt) return { ...state, checking: false };
            askMaster<BalanceMove>((sender) => ({ kind: 'balance-move', threshold: state.threshold, sender })).then((plan) => dispatch(ctx.self, { kind: 'balance-planned', plan }), failed);
            return state; // still checking, until the move is planned
          }
          for (const { chunk, source, target } of plan(state, msg.needs, msg.beingWritten, Date.now())) startCopy(ctx.self, chunk, source, target);
          return { ...state, checking: false };
        }
        case 'balance-planned': {
          const { spread, move } = msg.plan;
          // No move: reached what `ofs balance` asked for, back to the background level.
          if (!move) return { ...state, checking: false, spread, threshold: BALANCED_SPREAD };
          reserve(state, move.chunk.chunkId, move.from.id, move.to.id);
          startMove(ctx.self, move);
          return { ...state, checking: false, spread };
        }
        case 'check-failed':
          log.warn({ err: msg.err.message }, 'replication check failed');
          return { ...state, checking: false };
        case 'balance':
          state.threshold = msg.threshold;
          dispatch(msg.sender, balanceProgress(state));
          return state;
        case 'progress': {
          const copies = [...state.copying].map(([chunkId, { source, target }]) => ({ chunkId, source, target }));
          dispatch(msg.sender, { ...balanceProgress(state), copies });
          return state;
        }
        case 'copy-done': {
          state.copying.delete(msg.chunkId);
          if (msg.moved) {
            state.moved++;
            state.movedBytes += msg.bytes ?? 0;
          }
          for (const id of [msg.source, msg.target]) state.busy.set(id, Math.max(0, (state.busy.get(id) ?? 1) - 1));
          const now = Date.now();
          for (const [key, until] of state.failed) if (until <= now) state.failed.delete(key);
          if (msg.targetFailed) state.failed.set(`${msg.chunkId}@${msg.target}`, now + FAILED_TARGET_PAUSE_MS);
          if (msg.balancing) state.nextMoveAt = now + settings.balanceSettleMs;
          return state;
        }
      }
    }),
    'replication-manager',
    // Restarted, it forgets copies under way; they finish or fail on their own, and it plans again.
    {
      initialStateFunc: () => ({ checking: false, copying: new Map(), busy: new Map(), failed: new Map(), threshold: BALANCED_SPREAD, moved: 0, movedBytes: 0, spread: 0, nextMoveAt: 0 }),
      onCrash: resetOnCrash(log),
    },
  );
}
