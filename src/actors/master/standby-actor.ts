import { dispatch, spawn, type Ref } from 'nact';
import { OfsError } from '../../core/errors.js';
import type { EventId, MasterEvent } from '../../core/events.js';
import type { Logger } from '../../util/logger.js';
import type { MasterStore } from '../../storage/master-store.js';
import { applyTracked, checkpointDue, type ChunkTable, type TrackedNamespace } from '../../core/chunk-table.js';
import type { Namespace } from '../../core/namespace.js';
import { failed, ok, settle, type Result } from '../../util/result.js';
import { crashable, resumeOnCrash } from '../supervision.js';

export type StandbyMessage =
  /**
   * A new attach begins: appends are refused until its snapshot is installed
   * (or the active resumes us). Else a stream that starts after the new
   * snapshot would find the state of the old one and, answering with it, pass
   * for installed. Answered with the standby's newest event, if its journal
   * holds it: the active may stream what follows instead of a snapshot.
   */
  | { kind: 'attaching'; sender: Ref<Result<EventId | undefined>> }
  /**
   * The active, of `epoch`, streams the events after `seq` (its journal holds
   * ours up to there): appends fit again, from that epoch on only.
   */
  | { kind: 'resume'; seq: number; epoch: number; sender: Ref<Result<number>> }
  /** The active's snapshot, taken at its `epoch`; answered with the seq the standby is at. */
  | { kind: 'install'; snapshot: TrackedNamespace; epoch: number; sender: Ref<Result<number>> }
  | { kind: 'append'; events: MasterEvent[]; epoch: number; sender: Ref<Result<number>> }
  /** Answered with the state to serve from, and the highest epoch an active master showed this standby. */
  | { kind: 'take-over'; sender: Ref<TrackedNamespace & { epoch: number }> };

interface StandbyState {
  ns: Namespace;
  /** Kept with `ns`, so that a takeover need not walk the namespace to build it. */
  table: ChunkTable;
  /** True once a snapshot from the current active is installed, or it resumed us: only then do appends fit. */
  attached: boolean;
  /**
   * Set by `take-over`: the state is the new active's now, and its journal too.
   * An attach still under way must not install over it (`store.reset` would
   * wipe the journal the active writes) nor resume it.
   */
  takenOver: boolean;
  /** Highest epoch seen from an active master: appends from a lower one are a deposed master's. */
  epoch: number;
  sinceCheckpoint: number;
}

/**
 * The standby master's copy of the namespace: installs the active's snapshot,
 * then journals and applies each batch of events in order before answering,
 * so every acknowledged mutation is on its disk too. `take-over` hands the
 * state to the new active master.
 */
export function spawnStandbyActor(
  parent: Ref<unknown>,
  initial: TrackedNamespace,
  store: MasterStore,
  checkpointEvery: number,
  log: Logger,
): Ref<StandbyMessage> {
  const reply = async (sender: Ref<Result<number>>, run: () => Promise<number>) => dispatch(sender, await settle(run()));

  return spawn(
    parent,
    crashable('standby', async (state: StandbyState, msg: StandbyMessage): Promise<StandbyState> => {
      switch (msg.kind) {
        case 'attaching': {
          const newest = store.newestEvent;
          dispatch(msg.sender, ok(newest?.seq === state.ns.seq ? newest : undefined));
          return { ...state, attached: false };
        }
        case 'resume':
          if (state.takenOver) {
            dispatch(msg.sender, failed(tookOver()));
            return state;
          }
          // Only appends change the state, and none fit since `attaching`: a mismatch is a bug or a second attach.
          if (state.ns.seq !== msg.seq) {
            dispatch(msg.sender, failed(new OfsError('EINVAL', `standby is at seq ${state.ns.seq}, but the active resumes it at ${msg.seq}: attach again`)));
            return state;
          }
          dispatch(msg.sender, ok(msg.seq));
          // Fenced from here: a deposed master still retrying its appends must not
          // extend our history past the point where the new active's begins.
          return { ...state, attached: true, epoch: Math.max(state.epoch, msg.epoch) };
        case 'install': {
          if (state.takenOver) {
            dispatch(msg.sender, failed(tookOver()));
            return state;
          }
          let next = state;
          await reply(msg.sender, async () => {
            const { ns, table } = msg.snapshot;
            await store.reset(ns);
            next = { ...state, ns, table, attached: true, sinceCheckpoint: 0, epoch: Math.max(state.epoch, msg.epoch) };
            log.info({ seq: ns.seq }, 'standby: installed the active master’s snapshot');
            return ns.seq;
          });
          return next;
        }
        case 'append': {
          let next = state;
          await reply(msg.sender, async () => {
            if (msg.epoch < state.epoch) {
              throw new OfsError('ESTALE', `events from epoch ${msg.epoch}, but a master of epoch ${state.epoch} is active`);
            }
            if (!state.attached) throw new OfsError('EUNAVAILABLE', 'standby is not attached to an active master: it attaches again');
            const fresh = msg.events.filter((e) => e.seq > state.ns.seq);
            if (fresh.length > 0 && fresh[0]!.seq !== state.ns.seq + 1) {
              throw new OfsError('EINVAL', `standby is at seq ${state.ns.seq} and cannot apply seq ${fresh[0]!.seq}: re-attach`);
            }
            await store.append(fresh);
            const { ns } = applyTracked(state.ns, state.table, fresh);
            let sinceCheckpoint = state.sinceCheckpoint + fresh.length;
            if (checkpointDue(sinceCheckpoint, checkpointEvery, state.table)) {
              sinceCheckpoint = 0;
              void store.checkpoint(ns).catch((err) => log.error({ err }, 'standby checkpoint failed'));
            }
            next = { ...state, ns, epoch: msg.epoch, sinceCheckpoint };
            return ns.seq;
          });
          return next;
        }
        case 'take-over':
          dispatch(msg.sender, { ns: state.ns, table: state.table, epoch: state.epoch });
          return { ...state, attached: false, takenOver: true };
      }
    }),
    'standby',
    { initialState: { ...initial, attached: false, takenOver: false, epoch: 0, sinceCheckpoint: 0 }, onCrash: resumeOnCrash(log) },
  );
}

function tookOver(): OfsError {
  return new OfsError('ESTALE', 'this master took over: it installs no snapshot and resumes from no other master');
}
