import { NamespaceLoader } from '../../core/namespace-snapshot.js';
import { OfsError } from '../../core/errors.js';
import type { EventId } from '../../core/events.js';
import { ASK_TIMEOUT_MS, askResult } from '../../util/ask.js';
import type { BackoffOptions } from '../../util/backoff.js';
import { retry } from '../../util/retry.js';
import type { MasterProcess } from './master-process.js';

/** Pause between attempts to attach to the active master. */
const ATTACH_BACKOFF: BackoffOptions = { initialMs: 300, maxMs: 300, jitter: 0.3 };
/** How long one piece of the snapshot may take, lost replies retried, before the attach starts over. */
const PIECE_RETRY_MS = 10_000;
/** How often a standby confirms that the active master streams events to it. */
const CHECK_EVERY_MS = 3_000;

/**
 * A standby master's side of replication: it keeps itself attached to
 * whichever master is active (installing its snapshot, after which the
 * active streams every event to it), and checks now and then that the
 * active still lists it with a lag: an attach whose effect was lost must not
 * leave it silently out of sync.
 */
export class StandbyAttachment {
  /** The active master this standby installed a snapshot from. */
  private attachedTo: string | undefined;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly process: MasterProcess) {
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
  }

  /**
   * The election changed: attach to the new active master, if it is another,
   * once this master is in the election itself. Attached before, it would be
   * a standby the active cannot find in ZooKeeper, and detaches at once.
   */
  mastersChanged(): void {
    const { mode, masters, id } = this.process;
    if (mode === 'standby' && masters.some((m) => m.id === id) && masters[0]?.id !== this.attachedTo) void this.attach();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async attach(): Promise<void> {
    if (this.process.attaching) return;
    this.process.attaching = true;
    const { id, address, rpc, log } = this.process;
    const attempt = async (): Promise<void> => {
      const active = this.process.masters[0];
      if (this.process.mode !== 'standby' || !active || active.id === id || active.id === this.attachedTo) return;
      const newest = await askResult(this.process.standbyActor)<EventId | undefined>((sender) => ({ kind: 'attaching', sender }));
      // The active's epoch, from its reply: from now on the standby takes events from no master of an older one.
      const { body, epoch } = await rpc.call(active.address, 'master.attachStandby', { id, address, newest }, { timeoutMs: ASK_TIMEOUT_MS });
      if (body.snapshot === undefined) {
        await askResult(this.process.standbyActor)<number>((sender) => ({ kind: 'resume', seq: body.seq, epoch, sender }));
        this.attachedTo = active.id;
        log.info({ active: active.id, seq: body.seq }, 'standing by: attached to the active master, resuming from our own journal');
        return;
      }
      // Piece by piece, each checked as it comes: neither master holds the namespace as one message.
      const { snapshot: name } = body;
      const loader = new NamespaceLoader();
      for (let index = 0; ; index++) {
        const until = Date.now() + PIECE_RETRY_MS;
        const piece = await retry(() => rpc.call(active.address, 'master.snapshotPiece', { snapshot: name, index }, { timeoutMs: ASK_TIMEOUT_MS }), {
          deadline: () => until,
          backoff: ATTACH_BACKOFF,
          retryable: (err) => (err as OfsError).code === 'ETIMEDOUT',
        });
        if (piece.body.done) break;
        loader.add(piece.body.piece);
      }
      const snapshot = loader.finish();
      const { seq } = snapshot.ns;
      if (seq !== body.seq) throw new OfsError('EBADMSG', `snapshot ${name} is at seq ${seq}, the attach said ${body.seq}`);
      await askResult(this.process.standbyActor)<number>((sender) => ({ kind: 'install', snapshot, epoch, sender }));
      this.attachedTo = active.id;
      log.info({ active: active.id, seq }, 'standing by: attached to the active master');
    };
    // Until attached, or no longer a standby: each attempt looks at who is active now.
    const beforeRetry = (err: unknown) => log.debug({ err: (err as Error).message }, 'attach to the active master failed; retrying');
    const retryable = () => !this.stopped;
    await retry(attempt, { deadline: () => Infinity, backoff: ATTACH_BACKOFF, retryable, beforeRetry })
      .catch(() => undefined) // stopped
      .finally(() => (this.process.attaching = false));
  }

  private check(): void {
    const { id, mode, rpc, log } = this.process;
    const active = this.process.masters[0];
    if (mode !== 'standby' || this.process.attaching || !active || active.id === id || !this.process.masters.some((m) => m.id === id)) return;
    rpc
      .call(active.address, 'master.status', {}, { timeoutMs: 5_000 })
      .then(({ body }) => {
        if (this.process.mode !== 'standby' || body.standby.some((s) => s.id === id && s.lag !== null)) return;
        log.warn({ active: active.id }, 'the active master is not streaming to this standby: attaching again');
        this.attachedTo = undefined;
        void this.attach();
      })
      .catch(() => undefined);
  }
}
