import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadNewestCheckpoint, writeCheckpoint } from './checkpoint.js';
import { OfsError } from '../core/errors.js';
import { eventId, masterEventSchema, type EventId, type MasterEvent } from '../core/events.js';
import { Journal, type JournalMetrics } from './journal.js';
import { applyTracked, ChunkTable, type TrackedNamespace } from '../core/chunk-table.js';
import { emptyNamespace, type Namespace } from '../core/namespace.js';
import { NamespaceLoader, namespacePieces, upgradeNamespace } from '../core/namespace-snapshot.js';

/** A namespace from a checkpoint's pieces; a file an older OFS wrote holds it whole, as one piece. */
async function loadPieces(pieces: AsyncIterable<unknown>): Promise<TrackedNamespace> {
  const loader = new NamespaceLoader();
  let legacy: Namespace | undefined;
  for await (const piece of pieces) {
    if (legacy === undefined && piece !== null && typeof piece === 'object' && 'root' in piece) legacy = upgradeNamespace(piece as never);
    else loader.add(piece);
  }
  return legacy ? { ns: legacy, table: ChunkTable.of(legacy) } : loader.finish();
}

/**
 * A master's durable state on disk: the newest checkpoint plus the journal of
 * events after it. Checkpoints let old journal segments go; a standby that
 * syncs from the active replaces both with the active's snapshot.
 */
export class MasterStore {
  private constructor(
    private readonly dir: string,
    private journal: Journal<MasterEvent>,
    /** Seq of the newest checkpoint: segments are kept back to the one before it. */
    private checkpointSeq: number,
    private readonly log: (msg: string) => void,
    /** The newest journaled event, if it carries its epoch: where a standby may resume (see `eventId`). */
    private newest: EventId | undefined,
    private readonly metrics: JournalMetrics | undefined,
  ) {}

  static async open(dir: string, log: (msg: string) => void, metrics?: JournalMetrics): Promise<{ store: MasterStore } & TrackedNamespace> {
    const checkpoint = await loadNewestCheckpoint(dir, loadPieces, { log });
    const { ns: base, table } = checkpoint?.state ?? { ns: emptyNamespace, table: new ChunkTable() };
    const { journal, records } = await Journal.open<MasterEvent>(dir, { log, metrics });
    const after = records.filter((r) => r.seq > base.seq);
    if (after.length > 0 && after[0]!.seq !== base.seq + 1) {
      throw new OfsError(
        'ECORRUPT',
        `journal in ${dir} resumes at seq ${after[0]!.seq} but the newest checkpoint ends at ${base.seq}: events are missing`,
      );
    }
    const events = after.map((r, i) => {
      const parsed = masterEventSchema.safeParse(r);
      if (!parsed.success) throw new OfsError('ECORRUPT', `journal in ${dir}: record ${i} (seq ${r.seq}) is not a valid event`);
      return parsed.data;
    });
    const { ns } = applyTracked(base, table, events);
    // The journal may reach back past the checkpoint: its last record names the state even with no event after it.
    const last = records.at(-1);
    // A record at or before the checkpoint was not checked above: one that is not an event names nothing (a snapshot attach).
    const parsedLast = last?.seq === ns.seq ? masterEventSchema.safeParse(last) : undefined;
    const newest = parsedLast?.success ? eventId(parsedLast.data) : undefined;
    return { store: new MasterStore(dir, journal, checkpoint?.seq ?? 0, log, newest, metrics), ns, table };
  }

  /** The newest event appended (durable once its append resolves), if it carries its epoch. */
  get newestEvent(): EventId | undefined {
    return this.newest;
  }

  append(events: MasterEvent[]): Promise<void> {
    if (events.length > 0) this.newest = eventId(events.at(-1)!);
    return this.journal.append(events);
  }

  /**
   * Whether the journal holds the event `event` names (same seq, same epoch)
   * with at most `max` durable events after it: then a standby whose newest
   * event it is can be streamed the rest instead of a checkpoint.
   */
  async holds(event: EventId, max: number): Promise<boolean> {
    if (this.journal.lastSeq() - event.seq > max) return false;
    const [first] = await this.eventsFrom(event.seq, event.seq).catch((err: OfsError) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    return first?.epoch === event.epoch;
  }

  /** The durable events `from`..`to`, every one of them, or ENOENT (the journal no longer holds them, or not yet). */
  async eventsFrom(from: number, to: number): Promise<MasterEvent[]> {
    const events = (await this.journal.readFrom(from)).filter((e) => e.seq <= to);
    if (to >= from && (events[0]?.seq !== from || events.at(-1)!.seq !== to)) {
      throw new OfsError('ENOENT', `the journal holds seq ${events[0]?.seq ?? '-'}..${events.at(-1)?.seq ?? '-'} of ${from}..${to}`);
    }
    return events;
  }

  /** Writes `ns` as a checkpoint once every event up to it is durable, then drops covered segments. */
  async checkpoint(ns: Namespace): Promise<{ seq: number; path: string }> {
    await this.journal.append([]);
    const path = await writeCheckpoint(this.dir, ns.seq, namespacePieces(ns));
    // Two checkpoints are kept; the journal must still reach back to the older
    // one in case the newest turns out unreadable.
    await this.journal.removeSegmentsBefore(this.checkpointSeq + 1);
    this.checkpointSeq = ns.seq;
    this.log(`checkpoint at seq ${ns.seq} written to ${path}`);
    return { seq: ns.seq, path };
  }

  /**
   * Replaces everything on disk with `ns` (a standby adopting the active's
   * snapshot). Whatever this master had, including events it journaled but
   * never got acknowledged as active, is discarded: the active's history wins.
   */
  async reset(ns: Namespace): Promise<void> {
    await this.journal.close();
    await rm(join(this.dir, 'journal'), { recursive: true, force: true });
    await rm(join(this.dir, 'checkpoints'), { recursive: true, force: true });
    await writeCheckpoint(this.dir, ns.seq, namespacePieces(ns));
    this.journal = (await Journal.open<MasterEvent>(this.dir, { log: this.log, metrics: this.metrics })).journal;
    this.checkpointSeq = ns.seq;
    // The snapshot's last event is not in this journal: a restart before the next event attaches by snapshot again.
    this.newest = undefined;
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
