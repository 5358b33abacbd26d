import { OfsError } from '../core/errors.js';
import { readEpoch } from './epoch.js';
import { EPOCH_PATH } from './paths.js';
import { toOfsZkError } from './zk-errors.js';
import type { ZkSession } from './session.js';

/**
 * Checks the master epoch a message claims against ZooKeeper. An epoch in an
 * envelope is only a claim: any peer can write any number there. Taken on
 * trust, one message with a huge epoch would fence the real master off a
 * chunkserver, or make a standby refuse the active master's events (which
 * then steps down). Every real epoch is handed out by ZooKeeper before it is
 * used (`incrementEpoch`), so a claim above ZooKeeper's epoch is refused.
 *
 * ZooKeeper is read only for a claim above the highest epoch it has
 * confirmed (once per takeover, in a healthy cluster), and claims that
 * arrive together share one read; a flood of bad claims costs one read at a
 * time.
 */
export class EpochCheck {
  private confirmed = 0;
  private reading: Promise<number> | undefined;
  private next: Promise<number> | undefined;

  /** `read` returns ZooKeeper's master epoch now. */
  constructor(private readonly read: () => Promise<number>) {}

  /** Resolves if some master holds `epoch` or held it; EINVAL if none ever did. */
  async check(epoch: number, what: string): Promise<void> {
    if (epoch <= this.confirmed) return;
    const current = await this.freshRead();
    this.confirmed = Math.max(this.confirmed, current);
    if (epoch > current) {
      throw new OfsError('EINVAL', `${what}: epoch ${epoch} is above ZooKeeper's master epoch ${current}; no master holds it`);
    }
  }

  /**
   * A read that starts after this call. One under way may have started before
   * the claim's master took its epoch, so a caller that finds one waits for
   * the next, which every caller arriving meanwhile shares.
   */
  private freshRead(): Promise<number> {
    if (!this.reading) return this.startRead();
    this.next ??= this.reading
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.startRead();
      });
    return this.next;
  }

  private startRead(): Promise<number> {
    const reading = this.read().finally(() => {
      if (this.reading === reading) this.reading = undefined;
    });
    this.reading = reading;
    return reading;
  }
}

/** The check against ZooKeeper's epoch over `session`, which may not be connected yet: until it is, a claim above 0 is refused (EUNAVAILABLE). */
export function zkEpochCheck(session: () => ZkSession | undefined): EpochCheck {
  return new EpochCheck(async () => {
    const connected = session();
    if (!connected) throw new OfsError('EUNAVAILABLE', 'not connected to ZooKeeper yet: no master epoch can be confirmed');
    // The server we are connected to may be a follower a little behind the leader: a master that has
    // just taken its epoch would be refused. A sync first brings the follower up to the leader.
    await connected.client.sync(EPOCH_PATH).catch((err: unknown) => {
      throw toOfsZkError(err, `syncing ${EPOCH_PATH}`);
    });
    return readEpoch(connected);
  });
}
