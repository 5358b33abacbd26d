import type { ChunkserverProcess } from './chunkserver-process.js';
import type { MasterChannel } from './master-channel.js';

/**
 * The scrubber (GFS 5.2): verifies one chunk's checksums per interval, round
 * robin, so idle data is checked too, at a bounded rate. A corrupt replica
 * is reported to the master.
 */
export class Scrubber {
  private next = 0;
  private scrubbing = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly process: ChunkserverProcess,
    private readonly master: MasterChannel,
    intervalMs: number,
  ) {
    if (intervalMs > 0) this.timer = setInterval(() => this.tick(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    if (this.scrubbing) return;
    this.scrubbing = true;
    void this.scrubOne().finally(() => (this.scrubbing = false));
  }

  private async scrubOne(): Promise<void> {
    const { store, replicas, log } = this.process;
    const chunks = store.list();
    if (chunks.length === 0) return;
    const { id: chunkId } = chunks[this.next++ % chunks.length]!;
    const bad = await replicas.ask<number[]>(chunkId, (sender) => ({ kind: 'verify', chunkId, sender })).catch(() => []);
    if (bad.length > 0) {
      log.warn({ chunkId, blocks: bad }, 'scrubber found corrupt blocks');
      await this.master.reportCorrupt(chunkId, bad);
    }
  }
}
