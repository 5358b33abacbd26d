import { dispatch, query, spawn, type Ref } from 'nact';
import { OfsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RpcClient } from '../transport/rpc-client.js';
import { crashable, resetOnCrash } from './supervision.js';
import type { BumpOutcome, LeaseMessage } from './lease-manager.js';
import { BALANCED_SPREAD } from '../core/balance.js';
import { byReplicationPriority } from '../core/replication-priority.js';
import { askMasterActor, type BalanceMove, type LeaseCandidate, type MasterMessage, type MasterOutcome, type ReplicationNeeds } from './master-actor.js';

export type ReplicationMessage =
  | { kind: 'tick' }
  /** `targetFailed`: the target itself failed the copy (not the version bump before it). */
  | { kind: 'copy-done'; chunkId: string; source: string; target: string; ok: boolean; targetFailed?: boolean; balancing?: boolean; moved?: boolean }
  /** `ofs balance`: balance down to `threshold` now; answers with the progress so far. */
  | { kind: 'balance'; threshold: number; sender: Ref<BalanceProgress> };

export interface BalanceProgress {
  spread: number;
  moved: number;
  threshold: number;
}

interface Copy {
  source: string;
  target: string;
}

interface ReplicationState {
  copying: Map<string, Copy>;
  /** Copies each chunkserver takes part in now, as source or target. */
  busy: Map<string, number>;
  /** `chunk@target` → until when that target is passed over for that chunk, after it failed a copy of it. */
  failed: Map<string, number>;
  /** Balancing: the fill spread to reach (lowered by `ofs balance`), and replicas moved so far. */
  threshold: number;
  moved: number;
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
}

const COPY_TIMEOUT_MS = 120_000;
const QUERY_TIMEOUT_MS = 30_000;
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
  const askMaster = <T>(make: (sender: Ref<MasterOutcome>) => MasterMessage) => askMasterActor<T>(master, make);

  /** One copy: a new version on the live replicas, then the target pulls the chunk from the source. */
  const copy = async (chunk: LeaseCandidate, source: { id: string; address: string }, target: { id: string; address: string }): Promise<void> => {
    const bumped = (await query(leases, (sender) => ({ kind: 'bump', candidate: chunk, sender }) as LeaseMessage, QUERY_TIMEOUT_MS)) as BumpOutcome;
    if (!bumped.ok) throw new OfsError(bumped.code, bumped.message);
    const { body } = await rpc
      .call(target.address, 'chunk.copyFrom', { chunkId: chunk.chunkId, version: bumped.version, source: source.address }, { timeoutMs: COPY_TIMEOUT_MS })
      .catch((err: Error) => {
        throw new TargetFailure(`${target.id} could not copy chunk ${chunk.chunkId} from ${source.id}: ${err.message}`);
      });
    const { accepted } = await askMaster<{ accepted: boolean }>((sender) => ({ kind: 'replica-copied', chunkId: chunk.chunkId, version: bumped.version, serverId: target.id, length: body.length, sender }));
    if (!accepted) throw new OfsError('ESTALE', `chunk ${chunk.chunkId} changed version while it was copied`);
    log.info({ chunkId: chunk.chunkId, from: source.id, to: target.id, version: bumped.version, bytes: body.length }, 'chunk re-replicated');
  };

  /** Picks copies for the neediest chunks within the limits; returns them to start. */
  const plan = (state: ReplicationState, needs: ReplicationNeeds, beingWritten: Set<string>, now: number) => {
    const passedOver = (chunkId: string, serverId: string) => (state.failed.get(`${chunkId}@${serverId}`) ?? 0) > now;
    const load = (id: string) => state.busy.get(id) ?? 0;
    const ordered = byReplicationPriority(needs.chunks.map((c) => ({ ...c, inUse: c.readLately || beingWritten.has(c.chunkId) })));
    const started: { chunk: LeaseCandidate; source: { id: string; address: string }; target: { id: string; address: string } }[] = [];
    for (const chunk of ordered) {
      if (state.copying.size + started.length >= settings.maxCopies) break;
      if (state.copying.has(chunk.chunkId)) continue;
      const source = [...chunk.candidates].sort((a, b) => load(a.id) - load(b.id))[0];
      const holders = new Set(chunk.candidates.map((c) => c.id));
      const target = needs.servers
        .filter((s) => !holders.has(s.id) && s.free >= settings.chunkSize && load(s.id) < settings.maxCopiesPerServer && !passedOver(chunk.chunkId, s.id))
        .sort((a, b) => load(a.id) - load(b.id) || b.free - a.free)[0];
      if (!source || !target || load(source.id) >= settings.maxCopiesPerServer) continue;
      state.busy.set(source.id, load(source.id) + 1);
      state.busy.set(target.id, load(target.id) + 1);
      state.copying.set(chunk.chunkId, { source: source.id, target: target.id });
      started.push({ chunk, source, target });
    }
    return started;
  };

  /** Moves one replica from the fullest chunkserver to the emptiest, if the spread calls for it. */
  const balanceStep = async (state: ReplicationState, self: Ref<ReplicationMessage>): Promise<void> => {
    const { spread, move } = await askMaster<BalanceMove>((sender) => ({ kind: 'balance-move', threshold: state.threshold, sender }));
    state.spread = spread;
    if (!move) {
      state.threshold = BALANCED_SPREAD; // reached what `ofs balance` asked for: back to the background level
      return;
    }
    const { chunk, from, to } = move;
    state.copying.set(chunk.chunkId, { source: from.id, target: to.id });
    state.busy.set(from.id, (state.busy.get(from.id) ?? 0) + 1);
    state.busy.set(to.id, (state.busy.get(to.id) ?? 0) + 1);
    copy(chunk, from, to)
      .then(() => askMaster<{ dropped: boolean }>((sender) => ({ kind: 'drop-replica', chunkId: chunk.chunkId, serverId: from.id, sender })))
      .then(
        ({ dropped }) => {
          log.info({ chunkId: chunk.chunkId, from: from.id, to: to.id, dropped }, 'replica moved to even out disk use');
          dispatch(self, { kind: 'copy-done', chunkId: chunk.chunkId, source: from.id, target: to.id, ok: true, balancing: true, moved: dropped });
        },
        (err: Error) => {
          log.warn({ chunkId: chunk.chunkId, err: err.message }, 'balancing move failed');
          dispatch(self, { kind: 'copy-done', chunkId: chunk.chunkId, source: from.id, target: to.id, ok: false, balancing: true, targetFailed: err instanceof TargetFailure });
        },
      );
  };

  let checking = false;
  return spawn(
    parent,
    crashable('replication-manager', (state: ReplicationState, msg: ReplicationMessage, ctx: { self: Ref<ReplicationMessage> }): ReplicationState => {
      switch (msg.kind) {
        case 'tick': {
          if (checking) return state;
          checking = true;
          (async () => {
            const needs = await askMaster<ReplicationNeeds>((sender) => ({ kind: 'replication-needs', sender }));
            // Restoring replicas comes first; balancing moves one replica at a time when nothing else is copying.
            if (needs.chunks.length === 0) {
              if (state.copying.size === 0 && Date.now() >= state.nextMoveAt) await balanceStep(state, ctx.self);
              return;
            }
            const chunkIds = needs.chunks.map((c) => c.chunkId);
            const primaries = (await query(leases, (sender) => ({ kind: 'primaries', chunkIds, sender }) as LeaseMessage, QUERY_TIMEOUT_MS)) as (string | null)[];
            const beingWritten = new Set(chunkIds.filter((_, i) => primaries[i] !== null));
            for (const { chunk, source, target } of plan(state, needs, beingWritten, Date.now())) {
              copy(chunk, source, target).then(
                () => dispatch(ctx.self, { kind: 'copy-done', chunkId: chunk.chunkId, source: source.id, target: target.id, ok: true }),
                (err: Error) => {
                  log.warn({ chunkId: chunk.chunkId, from: source.id, to: target.id, err: err.message }, 'chunk copy failed; will retry');
                  dispatch(ctx.self, { kind: 'copy-done', chunkId: chunk.chunkId, source: source.id, target: target.id, ok: false, targetFailed: err instanceof TargetFailure });
                },
              );
            }
          })()
            .catch((err: Error) => log.warn({ err: err.message }, 'replication check failed'))
            .finally(() => (checking = false));
          return state;
        }
        case 'balance':
          state.threshold = msg.threshold;
          dispatch(msg.sender, { spread: state.spread, moved: state.moved, threshold: state.threshold });
          return state;
        case 'copy-done': {
          state.copying.delete(msg.chunkId);
          if (msg.moved) state.moved++;
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
      initialStateFunc: () => ({ copying: new Map(), busy: new Map(), failed: new Map(), threshold: BALANCED_SPREAD, moved: 0, spread: 0, nextMoveAt: 0 }),
      onCrash: resetOnCrash(log) as never,
    },
  );
}
