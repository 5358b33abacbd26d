import { OfsError } from '../../core/errors.js';
import type { Logger } from '../../util/logger.js';

/**
 * The highest epoch any master has shown this chunkserver. Orders from a
 * lower one come from a deposed master (paused, then woken after a
 * takeover) and are refused: the fencing that keeps two masters from both
 * changing chunk versions.
 */
export class EpochFence {
  private highest = 0;

  constructor(private readonly log: Logger) {}

  get epoch(): number {
    return this.highest;
  }

  /** True (and the epoch remembered) if `epoch` is the current master's or a later one's. */
  admits(epoch: number, what: string): boolean {
    if (epoch < this.highest) {
      this.log.warn({ epoch, masterEpoch: this.highest, what }, 'ignoring a deposed master');
      return false;
    }
    this.highest = epoch;
    return true;
  }

  /** Like `admits`, but refuses with ESTALE. */
  require(epoch: number, what: string): void {
    if (!this.admits(epoch, what)) throw new OfsError('ESTALE', `epoch ${epoch} is below the current master epoch ${this.highest}`);
  }
}
