import { randomBytes } from 'node:crypto';
import { OfsError } from '../core/errors.js';
import { RETRY_CACHED_TYPES } from '../core/master-requests.js';
import type { MessageType, ReplyOf, RequestOf } from '../transport/protocol.js';
import type { RpcClient } from '../transport/rpc-client.js';
import { findActiveMaster, watchMasters } from '../zk/election.js';
import type { RenewingZkSession } from '../zk/renewing-session.js';
import type { ZkSession } from '../zk/session.js';
import type { Watch } from '../zk/watch.js';
import { retry } from '../util/retry.js';
import { timeLeft } from './deadline.js';

/** Errors after which another attempt may reach a (new) active master. */
const RETRYABLE = new Set<OfsError['code']>(['ENOTACTIVE', 'ETIMEDOUT', 'EUNAVAILABLE']);

/**
 * The client's path to the active master: found through ZooKeeper, found
 * again when it stops answering or says it is not active, so that a master
 * failover costs a caller a delay, not an error. No call outlives its
 * deadline, whatever ZooKeeper does: a lost ZooKeeper session is replaced
 * (RenewingZkSession) and the watch set again on the new one.
 */
export class MasterLink {
  private address: string | undefined;
  /** The active master as last seen by the watch; undefined until the current session's watch first reports. */
  private watched: string | undefined;
  /** Counts the watch's reports, to tell whether one came in during a lookup. */
  private reports = 0;
  private watch: Watch | undefined;
  /** Calls waiting out a back-off: the watch's next report wakes them, to try again at once. */
  private readonly sleepers = new Set<() => void>();
  private readonly offSession: () => void;
  private stopped = false;
  /** Request ids: this link's random prefix and a count (one random draw per client, not per call: it showed in profiles). */
  private readonly idPrefix = randomBytes(9).toString('base64url');
  private requests = 0;

  constructor(
    private readonly zk: RenewingZkSession,
    private readonly rpc: RpcClient,
    private readonly retryForMs: number,
    private readonly callTimeoutMs: number,
  ) {
    this.offSession = zk.onSession((session) => this.watchOn(session));
  }

  /** Later calls fail with ECLOSED. */
  stop(): void {
    this.stopped = true;
    this.wakeSleepers(); // calls waiting out a back-off fail now, with ECLOSED
    this.offSession();
    this.watch?.stop();
  }

  /**
   * Sends one request (with `data` frames, if any) to the active master,
   * retrying through failovers until `deadline` (epoch ms; default
   * `retryForMs` from now), then throws the last error: EUNAVAILABLE naming
   * ZooKeeper if the master could not be looked up.
   */
  async call<T extends MessageType>(type: T, body: RequestOf<T>, options: { deadline?: number; data?: Buffer[] } = {}): Promise<ReplyOf<T>> {
    const { deadline = Date.now() + this.retryForMs, data } = options;
    // One id for every attempt: the master recognises a retry of a request
    // that already took effect and answers it instead of applying it twice.
    if (RETRY_CACHED_TYPES.has(type)) body = { ...body, requestId: `${this.idPrefix}-${(this.requests++).toString(36)}` };
    const retryable = (err: unknown): err is OfsError => err instanceof OfsError && RETRYABLE.has(err.code);
    let failed = false;
    /** The watch's reports when the last attempt started. */
    let reportsBefore = this.reports;
    const attempt = async () => {
      if (this.stopped) throw new OfsError('ECLOSED', `${type}: this client was closed`);
      reportsBefore = this.reports;
      try {
        // After a failure the watch may be stale (ZooKeeper down, the master
        // restarted on the same address as a standby): ask ZooKeeper itself.
        const address = this.address ?? (this.address = await this.resolve(deadline, failed));
        const timeoutMs = timeLeft(deadline, this.callTimeoutMs, `${type} to the active master`);
        return (await this.rpc.call(address, type, body, { timeoutMs, data })).body;
      } catch (err) {
        // At once, not after the back-off: other calls must not pick the failed address meanwhile.
        if (retryable(err)) {
          failed = true;
          this.address = undefined;
        }
        throw err;
      }
    };
    const started = Date.now();
    // A failover is seen first by the watch: a call waiting out its back-off goes again at once,
    // and so does one whose attempt failed after a report came (a new master, still taking over).
    const wake = (wakeUp: () => void) => {
      if (this.reports !== reportsBefore) {
        wakeUp();
        return () => {};
      }
      this.sleepers.add(wakeUp);
      return () => void this.sleepers.delete(wakeUp);
    };
    return retry(attempt, { deadline: () => deadline, retryable, wake }).catch((err: unknown) => {
      if (!retryable(err)) throw err;
      throw new OfsError(err.code, `${type}: no active master answered within ${Date.now() - started} ms: ${err.message}`);
    });
  }

  /** Watches the election through `session`, the first or one that replaced a lost one. */
  private watchOn(session: ZkSession): void {
    this.watch?.stop();
    // What the lost session's watch saw last may have changed unseen since.
    this.watched = undefined;
    // When ZooKeeper elects another master, calls still waiting on the old one
    // will never be answered: fail them now so they retry, rather than after
    // the call timeout.
    this.watch = watchMasters(session, (masters) => {
      this.watched = masters[0]?.address;
      this.reports++;
      const current = this.address;
      if (current && this.watched !== current) {
        this.address = undefined;
        this.rpc.reset(current, 'another master was elected');
      }
      this.wakeSleepers();
    });
  }

  private wakeSleepers(): void {
    const sleepers = [...this.sleepers];
    this.sleepers.clear();
    for (const wakeUp of sleepers) wakeUp();
  }

  private async resolve(deadline: number, lookUp: boolean): Promise<string> {
    if (this.watched && !lookUp) return this.watched;
    for (;;) {
      const session = await this.zk.session(deadline);
      const reports = this.reports;
      try {
        const active = await findActiveMaster(session, deadline);
        // A report during the lookup is newer than what it read, and the
        // watch resets only an address in use: take the report.
        if (this.reports !== reports && this.watched) return this.watched;
        if (!active) throw new OfsError('EUNAVAILABLE', 'no master is registered in ZooKeeper (is `ofs master` running?)');
        return active.address;
      } catch (err) {
        // The session was lost under the request; the next one is on its way.
        if (!session.isOpen && Date.now() < deadline) continue;
        throw err;
      }
    }
  }
}
