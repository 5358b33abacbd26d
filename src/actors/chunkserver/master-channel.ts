import { UNFINISHED_COPY_VERSION } from './chunk-replica-actor.js';
import type { ChunkserverProcess } from './chunkserver-process.js';
import type { MemberInfo } from '../../zk/registry.js';
import type { ChunkReportEntry } from '../../core/cluster-view.js';
import { REPORT_PART_CHUNKS } from '../../transport/protocol.js';
import { OfsError } from '../../core/errors.js';

/** A full chunk report every this many heartbeats lets the master find garbage it missed (GFS 4.4). */
const FULL_REPORT_EVERY_BEATS = 30;
const REPORT_TIMEOUT_MS = 10_000;

/**
 * What a chunkserver tells the active master: heartbeats (its load, the
 * leases it wants extended), full chunk reports, corrupt replicas. The
 * master's replies carry the chunks to delete and the extended leases.
 */
export class MasterChannel {
  /** The active master, as ZooKeeper last said. */
  private master: MemberInfo | undefined;
  private beats = 0;
  private beating = false;
  /** A full report under way (one at a time), and how many this process began: each report in parts has its own id. */
  private reporting = false;
  private reports = 0;
  /** The chunk list a master that took over is reading in parts. */
  private listed: { epoch: number; chunks: ChunkReportEntry[] } | undefined;

  constructor(
    private readonly process: ChunkserverProcess,
    private readonly heartbeatMs: number,
  ) {}

  /** ZooKeeper named a new active master: beat to it now. */
  masterChanged(active: MemberInfo | undefined): void {
    if (active?.address !== this.master?.address) this.process.log.info({ master: active?.address }, 'master changed');
    this.master = active;
    // At once, even while a heartbeat to the old master is still out: the new one must hear from us before it counts us dead.
    if (active) void this.heartbeat();
  }

  /** One heartbeat, unless one is still under way. */
  beat(): void {
    if (this.beating) return;
    this.beating = true;
    void this.heartbeat().finally(() => (this.beating = false));
  }

  /** This server's load, as the master places chunks by it. */
  async load() {
    const { id, incarnation, address, data, store } = this.process;
    const free = await store.freeBytes();
    return { id, incarnation, address, data, used: store.usedBytes(), free, capacity: store.usedBytes() + free, chunkCount: store.list().length };
  }

  /** Every replica this server holds. A copy under way is not one yet: the master hears of it when it is done. */
  fullReport(): ChunkReportEntry[] {
    return this.process.store
      .list()
      .filter((c) => c.version !== UNFINISHED_COPY_VERSION)
      .map((c) => ({ chunkId: c.id, version: c.version, length: c.syncedLength }));
  }

  /**
   * Part of this server's chunks for a master of `epoch` that took over, from
   * entry `from` of a list taken when it asks for the first part and kept
   * until it has the last: parts of one list, whatever is made or deleted
   * meanwhile (a chunk made meanwhile is the master's own grant).
   */
  reportPart(epoch: number, from: number): { chunks: ChunkReportEntry[]; more: boolean } {
    if (from === 0) this.listed = { epoch, chunks: this.fullReport() };
    // Parts of two lists could leave out chunks made in between: the master starts again, or hears a full report.
    if (this.listed?.epoch !== epoch) throw new OfsError('ESTALE', `chunk report part from ${from}: the list it belongs to is gone (this chunkserver restarted, or another master asked since); ask from the first part`);
    const { chunks } = this.listed;
    const more = from + REPORT_PART_CHUNKS < chunks.length;
    if (!more) this.listed = undefined;
    return { chunks: chunks.slice(from, from + REPORT_PART_CHUNKS), more };
  }

  /** GFS 5.2: tell the master, which stops handing the replica out; delete it once another good one exists. */
  async reportCorrupt(chunkId: string, blocks: number[]): Promise<void> {
    const { id, rpc, fence, log } = this.process;
    if (!this.master) return;
    try {
      const { body, epoch } = await rpc.call(this.master.address, 'master.reportCorrupt', { id, chunkId, blocks }, { timeoutMs: REPORT_TIMEOUT_MS });
      if (body.discard && (await fence.admits(epoch, 'corrupt report reply'))) this.deleteChunks([chunkId]);
    } catch (err) {
      log.warn({ chunkId, err: (err as Error).message }, 'corrupt replica not reported; the scrubber will find it again');
    }
  }

  private async heartbeat(): Promise<void> {
    const { rpc, fence, leases, log } = this.process;
    if (!this.master) return;
    try {
      const sentAt = Date.now();
      const wanted = leases.wanted(sentAt);
      const { body, epoch } = await rpc.call(this.master.address, 'master.heartbeat', { ...(await this.load()), leases: wanted }, { timeoutMs: this.heartbeatMs * 3 });
      if (!(await fence.admits(epoch, 'heartbeat reply'))) return;
      for (const lease of body.extended) leases.extend(lease.chunkId, lease.version, lease.leaseMs, sentAt);
      this.deleteChunks(body.deleteChunks);
      if (!body.known || ++this.beats % FULL_REPORT_EVERY_BEATS === 0) await this.sendFullReport();
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  private async sendFullReport(): Promise<void> {
    const { rpc, fence, log } = this.process;
    const master = this.master;
    if (!master || this.reporting) return;
    this.reporting = true;
    const id = `push-${++this.reports}`;
    try {
      const chunks = this.fullReport();
      const load = await this.load();
      // One message, or parts of one in turn where one would pass a message's limit.
      const parts = Math.max(1, Math.ceil(chunks.length / REPORT_PART_CHUNKS));
      for (let i = 0; i < parts; i++) {
        const report = { ...load, full: true, chunks: chunks.slice(i * REPORT_PART_CHUNKS, (i + 1) * REPORT_PART_CHUNKS), ...(parts > 1 && { part: { report: id, first: i === 0, last: i === parts - 1 } }) };
        const { body, epoch } = await rpc.call(master.address, 'master.chunkReport', report, { timeoutMs: REPORT_TIMEOUT_MS });
        if (!(await fence.admits(epoch, 'chunk report reply'))) return;
        this.deleteChunks(body.deleteChunks);
      }
    } catch (err) {
      // The next heartbeat finds out whether the master needs a full report.
      log.warn({ err: (err as Error).message }, 'chunk report not delivered');
    } finally {
      this.reporting = false;
    }
  }

  private deleteChunks(ids: string[]): void {
    const { replicas, log } = this.process;
    for (const chunkId of ids) {
      log.info({ chunkId }, 'deleting chunk the master no longer wants');
      void replicas.ask<void>(chunkId, (sender) => ({ kind: 'delete', chunkId, sender })).catch((err) => log.warn({ err, chunkId }, 'chunk delete failed'));
    }
  }
}
