import { OfsError } from '../../core/errors.js';
import type { Logger } from '../../util/logger.js';
import type { EpochCheck } from '../../zk/epoch-check.js';

/**
 * The highest epoch any master has shown this chunkserver. Orders from a
 * lower one come from a deposed master (paused, then woken after a
 * takeover) and are refused: the fencing that keeps two masters from both
 * changing chunk versions. A higher one is taken only once ZooKeeper
 * confirms a master holds it: else any peer could fence the real master off.
 */
export class EpochFence {
  private highest = 0;

  constructor(
    private readonly log: Logger,
    private readonly confirmed: EpochCheck,
  ) {}

  get epoch(): number {
    return this.highest;
  }

  /** True (and the epoch remembered) if `epoch` is the current master's or a later one's; EINVAL for one no master holds. */
  async admits(epoch: number, what: string): Promise<boolean> {
    if (epoch < this.highest) {
      this.log.warn({ epoch, masterEpoch: this.highest, what }, 'ignoring a deposed master');
      return false;
    }
    await this.confirmed.check(epoch, what);
    this.highest = Math.max(this.highest, epoch);
    return true;
  }

  /** Like `admits`, but refuses a lower epoch with ESTALE. */
  async require(epoch: number, what: string): Promise<void> {
    if (!(await this.admits(epoch, what))) throw new OfsError('ESTALE', `epoch ${epoch} is below the current master epoch ${this.highest}`);
  }
}
