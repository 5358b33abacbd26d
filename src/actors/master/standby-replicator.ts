import { OfsError } from '../../core/errors.js';
import type { MasterEvent } from '../../core/events.js';
import type { Logger } from '../../util/logger.js';
import type { RpcClient } from '../../transport/rpc-client.js';
import { ExponentialBackoff, sleep, type BackoffOptions } from '../../util/backoff.js';

export interface StandbyRef {
  id: string;
  address: string;
}

/** A standby that kept its own state: it holds the events up to `heldSeq`, and `missed` reads those after it, up to the attach, from the journal. */
export interface ResumedStandby {
  heldSeq: number;
  missed: () => Promise<MasterEvent[]>;
}

interface Waiter {
  seq: number;
  resolve: () => void;
}

export interface ReplicatorHooks {
  /** Is the standby still registered in ZooKeeper? Once not, it need not acknowledge. */
  isRegistered: () => Promise<boolean>;
  /** The standby acknowledged for the first time: it now holds a complete copy. */
  onInSync: () => Promise<void>;
  /** The standby is gone or refused our history; resolve-without-it is allowed only after this resolves. */
  onDetach: (why: string) => Promise<void>;
  /** A master of a later epoch answered: this one has been replaced and must stop at once. */
  onFenced: (why: string) => void;
}

const APPEND_TIMEOUT_MS = 2_000;
/**
 * A standby registered in ZooKeeper that we cannot reach this long is
 * detached all the same: behind a partition it never refuses and never
 * leaves, and every acknowledgement would wait for the heal. Detaching is as
 * safe as for a standby that left, since ZooKeeper's in-sync set drops it
 * first (it may not take over then); it costs the standby a resume or a
 * snapshot when it attaches again.
 */
export const DETACH_UNREACHABLE_AFTER_MS = 4_000;
/** Pause before sending a failed batch again (jittered: standbys of one master do not retry in step). */
const RETRY_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 100, jitter: 0.5 };
/**
 * Pauses before asking a standby that is attaching again: short at first (a
 * resume is over at once), then up to a second (an install takes seconds, and
 * each ask carries a batch).
 */
const BUSY_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 1_000, jitter: 0.3 };
/**
 * Events queued for a standby that answers it is attaching, beyond which it
 * is detached all the same (it attaches again, with a newer snapshot): as
 * many as a standby may be behind and still resume (handlers.ts), some tens
 * of MB. Memory stays bounded should its attach never end.
 */
const MAX_QUEUED_WHILE_BUSY = 100_000;
/** Events per standby.append: bounds message size while a standby catches up. */
const MAX_BATCH = 2_000;
/**
 * Bytes of events (as JSON) per standby.append, at least one event: a batch
 * of long paths stays inside a message header's 1 MiB (envelope.ts), where
 * MAX_BATCH events of 4 KiB paths would pass it many times over.
 */
const MAX_BATCH_BYTES = 512 * 1024;

/** The events at the head of `queue` that go in the next standby.append. */
export function nextBatch(queue: readonly MasterEvent[]): MasterEvent[] {
  let bytes = 0;
  let count = 0;
  while (count < Math.min(queue.length, MAX_BATCH)) {
    bytes += Buffer.byteLength(JSON.stringify(queue[count]));
    if (bytes > MAX_BATCH_BYTES && count > 0) break;
    count++;
  }
  return queue.slice(0, count);
}

/**
 * Streams the active master's events to one standby, in order, batching
 * whatever accumulated while the previous batch was in flight. Once the
 * standby is in sync, `replicate` resolves when the standby has journaled the
 * events, which is when the active may acknowledge the mutation (durable on
 * both masters). Before that, while the standby installs its snapshot (a
 * million files take seconds), `replicate` does not wait: the standby is not
 * in the in-sync set, so it may not take over, and the active acknowledges
 * without it. It joins the set only once it holds every event acknowledged
 * without it, not at its first answer.
 */
export class StandbyReplicator {
  private queue: MasterEvent[] = [];
  private readonly waiters: Waiter[] = [];
  private sending = false;
  private detached = false;
  private inSync = false;
  ackedSeq: number;
  /** The last event acknowledged to clients without this standby: it is in sync once it holds this one. */
  private acknowledgedWithout: number;
  /**
   * Set once the standby is within one batch of the active: from then on
   * acknowledgements wait for it, so `acknowledgedWithout` stops moving and
   * the standby can reach it even under a steady load.
   */
  private closingIn = false;
  /** A successor took the standby over: what this one still finds wrong is the successor's business. */
  private superseded = false;
  /** The seq the standby holds at the attach: answers below it come from a state before the attach. */
  private readonly heldSeq: number;
  /** Reads the events the resumed standby missed; sent before anything queued. */
  private missed: (() => Promise<MasterEvent[]>) | undefined;
  /** When the first of the appends failing now was sent (performance.now()), undefined while they succeed. */
  private failingSince: number | undefined;
  /** The pause before the next ask of a standby answering it is attaching; undefined once it took a batch. */
  private busyBackoff: ExponentialBackoff | undefined;

  constructor(
    readonly standby: StandbyRef,
    /** The seq the active was at when the standby attached: events after it are queued here as they come. */
    startSeq: number,
    /** Resolves once ZooKeeper's in-sync set does not list this standby: until it is in sync again, acknowledgements wait for this only. */
    private readonly outOfSet: Promise<void>,
    private readonly rpc: RpcClient,
    private readonly hooks: ReplicatorHooks,
    private readonly log: Logger,
    /** Set when the standby keeps its own state (no snapshot): the events between it and `startSeq` go first. */
    resumed?: ResumedStandby,
    private readonly detachUnreachableAfterMs = DETACH_UNREACHABLE_AFTER_MS,
  ) {
    this.heldSeq = resumed?.heldSeq ?? startSeq;
    this.ackedSeq = this.heldSeq;
    this.missed = resumed?.missed;
    // Everything up to the attach may have been acknowledged without the standby.
    this.acknowledgedWithout = startSeq;
    // A first append (empty, after a snapshot) confirms the standby installed it or resumed.
    void this.pump();
  }

  /**
   * The standby attached again (it restarted, or re-synced): a new replicator
   * carries on from a fresh snapshot, which includes everything queued here.
   * Waiters are released once the standby is out of the in-sync set.
   */
  supersede(successor: StandbyReplicator): void {
    this.detached = true;
    this.superseded = true;
    void successor.outOfSet.then(() => this.release(Number.MAX_SAFE_INTEGER), () => undefined);
  }

  replicate(events: MasterEvent[]): Promise<void> {
    if (this.detached || events.length === 0) return Promise.resolve();
    this.queue.push(...events);
    const seq = events.at(-1)!.seq;
    void this.pump();
    if (!this.inSync && !this.closingIn) {
      this.acknowledgedWithout = seq;
      return this.outOfSet;
    }
    return new Promise<void>((resolve) => this.waiters.push({ seq, resolve }));
  }

  lag(currentSeq: number): number {
    return Math.max(0, currentSeq - this.ackedSeq);
  }

  /** In the in-sync set: it holds every acknowledged event, and acknowledgements wait for it. */
  get isInSync(): boolean {
    return this.inSync;
  }

  private async pump(): Promise<void> {
    if (this.sending || this.detached) return;
    this.sending = true;
    try {
      // One turn of microtasks first, as the journal's flush: events the master persists in one
      // handler (a create, then its first chunk's allocation) go in one batch, not one round each.
      await Promise.resolve();
      if (this.missed) {
        const read = this.missed;
        this.missed = undefined;
        try {
          this.queue = [...(await read()), ...this.queue];
        } catch (err) {
          return await this.detach(`the events it missed could not be read from the journal: ${(err as Error).message}`);
        }
      }
      while (!this.detached && (this.queue.length > 0 || !this.inSync)) {
        const batch = nextBatch(this.queue);
        const sentAt = performance.now();
        try {
          const { body } = await this.rpc.call(this.standby.address, 'standby.append', { events: batch }, { timeoutMs: APPEND_TIMEOUT_MS });
          // Below our snapshot: the standby answered from an older state, before it installed ours. Only what it says counts.
          if (body.seq < this.heldSeq) throw new OfsError('EUNAVAILABLE', `standby ${this.standby.id} is at seq ${body.seq}, before its attach at ${this.heldSeq}`);
          this.queue.splice(0, batch.length);
          this.failingSince = undefined;
          this.busyBackoff = undefined;
          this.ackedSeq = Math.max(this.ackedSeq, body.seq);
          if (!this.inSync && this.queue.length <= MAX_BATCH) this.closingIn = true;
          if (!this.inSync && this.ackedSeq >= this.acknowledgedWithout) {
            // Recorded in ZooKeeper first: whoever sees it in sync (status, a takeover) finds it in the set.
            // Meanwhile acknowledgements already wait for it (closingIn).
            await this.hooks.onInSync();
            this.inSync = true;
            this.log.info({ standby: this.standby.id, seq: this.ackedSeq }, 'standby in sync');
          }
          this.release(this.ackedSeq);
        } catch (err) {
          await this.handleFailure(err as OfsError, sentAt);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** `sentAt`: when the failed call went out; unreachable since the first failed call was sent. */
  private async handleFailure(err: OfsError, sentAt: number): Promise<void> {
    if (err.code === 'ESTALE') return this.hooks.onFenced(`standby ${this.standby.id} answered: ${err.message}`);
    const refused = err.code === 'EINVAL' || err.code === 'ENOTACTIVE';
    if (refused || !(await this.hooks.isRegistered())) return this.detach(refused ? `refused: ${err.message}` : 'left ZooKeeper');
    if (err.code === 'EBUSY' && !this.inSync && !this.closingIn) {
      // It answered: it is attaching (installing our snapshot takes as long as the namespace is big: a million
      // files, seconds). No acknowledgement waits for it meanwhile, so no time bound holds it; the queue's bound
      // does. (In sync, it answers so only once it restarted and attaches again: acknowledgements wait for it,
      // and the time bound below holds.)
      if (this.queue.length > MAX_QUEUED_WHILE_BUSY) return this.detach(`still attaching with ${this.queue.length} events queued for it`);
      this.failingSince = undefined;
      this.busyBackoff = this.busyBackoff?.next() ?? ExponentialBackoff.start(BUSY_BACKOFF);
      return sleep(this.busyBackoff.delayMs());
    }
    this.failingSince ??= sentAt;
    const failingMs = performance.now() - this.failingSince;
    if (failingMs >= this.detachUnreachableAfterMs) return this.detach(`unreachable for ${Math.round(failingMs)} ms: ${err.message}`);
    await sleep(ExponentialBackoff.start(RETRY_BACKOFF).delayMs());
  }

  /** Stops streaming to the standby; it attaches again (its own check finds it unattached). */
  private async detach(why: string): Promise<void> {
    // The standby attached again meanwhile: leaving the in-sync set now would undo its successor's
    // membership, and the waiters here go when the successor has taken it out first (`supersede`).
    if (this.superseded) return;
    this.detached = true;
    try {
      await this.hooks.onDetach(why);
    } catch (detachErr) {
      // Could not record that the standby is out of sync: acknowledging
      // without it now could lose work if it later took over. Stop instead.
      return this.hooks.onFenced(`could not detach standby ${this.standby.id}: ${(detachErr as Error).message}`);
    }
    this.log.warn({ standby: this.standby.id, why }, 'standby detached: acknowledging without it');
    this.release(Number.MAX_SAFE_INTEGER);
  }

  private release(uptoSeq: number): void {
    while (this.waiters.length > 0 && this.waiters[0]!.seq <= uptoSeq) this.waiters.shift()!.resolve();
  }
}
