import type { MasterEvent } from '../../core/events.js';
import type { ServerRef } from '../../core/master-planners.js';
import type { Namespace } from '../../core/namespace.js';
import type { MasterStore } from '../../storage/master-store.js';
import { listMasters } from '../../zk/election.js';
import { writeInSync } from '../../zk/in-sync.js';
import type { ZkSession } from '../../zk/session.js';
import type { EventSink, StandbyResume } from './master-messages.js';
import type { MasterProcess } from './master-process.js';
import { StandbyReplicator } from './standby-replicator.js';

/**
 * The active master's side of its standbys: one replicator streaming events
 * to each attached standby, and the in-sync set in ZooKeeper (who may take
 * over without losing an acknowledged event). Its `sink` is where the master
 * actor's events become durable: journaled here and on every attached standby.
 */
export class StandbyStreams {
  private readonly replicators = new Map<string, StandbyReplicator>();
  private readonly inSync = new Set<string>();

  constructor(
    private readonly process: MasterProcess,
    private readonly zk: ZkSession,
    private readonly store: MasterStore,
    /** Called when a standby answers for a later epoch: this master was replaced. */
    private readonly onFenced: (why: string) => void,
  ) {}

  /** The seq of the newest event handed to the sink. */
  private lastSeq = 0;

  readonly sink: EventSink = {
    append: async (events: MasterEvent[]) => {
      this.lastSeq = events.at(-1)?.seq ?? this.lastSeq;
      await Promise.all([this.store.append(events), ...[...this.replicators.values()].map((r) => r.replicate(events))]);
    },
    checkpoint: (ns: Namespace) => this.store.checkpoint(ns),
  };

  /**
   * Starts streaming events after `seq` to a standby that installs the
   * snapshot at `seq`, or, `resume`d, after the seq it holds already (those up
   * to `seq` read back from the journal once durable). A standby attaching again (it restarted) leaves the
   * in-sync set first: until it holds every event again, it must not be one
   * that may take over, and acknowledgements no longer wait for it.
   */
  attach(standby: ServerRef, seq: number, resume?: StandbyResume): void {
    const { rpc, log } = this.process;
    const { zk } = this;
    const previous = this.replicators.get(standby.id);
    const outOfSet = this.inSync.delete(standby.id)
      ? this.recordInSync().catch((err: Error) => {
          this.onFenced(`could not take standby ${standby.id} out of the in-sync set: ${err.message}`);
          throw err;
        })
      : Promise.resolve();
    const replicator = new StandbyReplicator(
      standby,
      seq,
      outOfSet,
      rpc,
      {
        // Asked of ZooKeeper itself, not our watched copy, which may not show a standby that just joined.
        isRegistered: async () => (await listMasters(zk)).some((m) => m.id === standby.id),
        onInSync: async () => {
          this.inSync.add(standby.id);
          await this.recordInSync();
        },
        onDetach: async () => {
          // Superseded by a new attachment of the same standby: the in-sync set is the new one's to change.
          if (this.replicators.get(standby.id) !== replicator) return;
          this.replicators.delete(standby.id);
          this.inSync.delete(standby.id);
          await this.recordInSync();
        },
        onFenced: (why) => this.onFenced(`fenced: ${why}`),
      },
      log,
      resume && {
        heldSeq: resume.from,
        missed: async () => {
          await resume.durable;
          return this.store.eventsFrom(resume.from + 1, seq);
        },
      },
    );
    previous?.supersede(replicator);
    this.replicators.set(standby.id, replicator);
    log.info({ standby: standby.id, seq, resumedFrom: resume?.from }, resume ? 'standby attached, resuming from its own journal' : 'standby attached');
  }

  /** Every other master in the election, how far behind `seq` it is (null: not attached), and whether it is in sync. */
  standbys(seq: number): (ServerRef & { lag: number | null; inSync: boolean })[] {
    return this.process.masters
      .filter((m) => m.id !== this.process.id)
      .map((m) => {
        const replicator = this.replicators.get(m.id);
        return { id: m.id, address: m.address, lag: replicator?.lag(seq) ?? null, inSync: replicator?.isInSync ?? false };
      });
  }

  /** Each attached standby and how many of the events appended so far it has yet to acknowledge. */
  lags(): { standby: string; lag: number }[] {
    return [...this.replicators].map(([standby, replicator]) => ({ standby, lag: replicator.lag(this.lastSeq) }));
  }

  /** This master alone is in sync: it just took over. */
  async resetInSync(): Promise<void> {
    this.inSync.clear();
    await this.recordInSync();
  }

  private recordInSync(): Promise<void> {
    return writeInSync(this.zk, this.process.epoch, [this.process.id, ...this.inSync]);
  }
}
