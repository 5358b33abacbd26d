import { setTimeout as sleep } from 'node:timers/promises';
import { OfsError } from '../core/errors.js';
import { ExponentialBackoff } from '../util/backoff.js';
import { connectZk, type ConnectOptions, type ZkSession } from './session.js';

/**
 * A ZooKeeper session that is replaced whenever it is lost, for a process
 * that owns no ephemeral znodes and so loses nothing with a session: the
 * client. (A master or chunkserver exits instead: its membership went with
 * the session, and its supervisor starts it afresh.)
 *
 * ZooKeeper may be down for longer than a session lasts; then the session
 * expires, and without a new one the client could never again learn where
 * the active master is. So a lost session is followed at once by attempts
 * to connect a new one, with back-off, until a server grants one; each new
 * session is handed to `onSession` listeners to set their watches again.
 */
export class RenewingZkSession {
  private current: ZkSession;
  private readonly sessionListeners = new Set<(session: ZkSession) => void>();
  /** Callers waiting in `session()` for a usable session; woken by a new one or by close(). */
  private readonly waiters = new Set<() => void>();
  private readonly closing = new AbortController();

  static async connect(connect: string, options: Omit<ConnectOptions, 'signal'> = {}): Promise<RenewingZkSession> {
    return new RenewingZkSession(connect, options, await connectZk(connect, options));
  }

  private constructor(
    readonly connect: string,
    private readonly options: Omit<ConnectOptions, 'signal'>,
    first: ZkSession,
  ) {
    this.current = first;
    this.adopt(first);
  }

  /**
   * The current session while it is usable (connected, or disconnected but
   * not yet lost); once it is lost, the next one, waited for until `deadline`
   * (epoch ms). Rejects with EUNAVAILABLE naming ZooKeeper when none comes.
   */
  async session(deadline: number): Promise<ZkSession> {
    for (;;) {
      if (this.closing.signal.aborted) throw new OfsError('ECLOSED', `the client's ZooKeeper session to ${this.connect} was closed`);
      if (this.current.isOpen) return this.current;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new OfsError(
          'EUNAVAILABLE',
          `ZooKeeper at ${this.connect} did not answer in time: the last session was lost and no server has granted a new one yet (is ZooKeeper running?)`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, remaining);
        this.waiters.add(wake);
      });
    }
  }

  /** Calls `listener` with the current session now and with every new one after a loss. Returns an unsubscribe function. */
  onSession(listener: (session: ZkSession) => void): () => void {
    this.sessionListeners.add(listener);
    if (this.current.isOpen) listener(this.current);
    return () => void this.sessionListeners.delete(listener);
  }

  /** Closes the session and stops making new ones. */
  async close(): Promise<void> {
    this.closing.abort();
    for (const wake of [...this.waiters]) wake();
    await this.current.close();
  }

  private adopt(session: ZkSession): void {
    this.current = session;
    session.onExpired(() => void this.renew());
    for (const listener of [...this.sessionListeners]) listener(session);
    for (const wake of [...this.waiters]) wake();
  }

  private async renew(): Promise<void> {
    let backoff = ExponentialBackoff.start({ initialMs: 100, maxMs: 2_000, jitter: 0.5 });
    const { signal } = this.closing;
    while (!signal.aborted) {
      try {
        const session = await connectZk(this.connect, { ...this.options, signal });
        if (signal.aborted) return void (await session.close()); // closed while it connected
        return this.adopt(session);
      } catch {
        // ZooKeeper is still down (or refused us): the next attempt says it again.
        await sleep(backoff.delayMs(), undefined, { signal }).catch(() => {});
        backoff = backoff.next();
      }
    }
  }
}
