import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadNewestCheckpoint, writeCheckpoint } from './checkpoint.js';
import { OfsError } from '../core/errors.js';
import { masterEventSchema, type MasterEvent } from '../core/events.js';
import { Journal } from './journal.js';
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
  ) {}

  static async open(dir: string, log: (msg: string) => void): Promise<{ store: MasterStore } & TrackedNamespace> {
    const checkpoint = await loadNewestCheckpoint(dir, loadPieces, { log });
    const { ns: base, table } = checkpoint?.state ?? { ns: emptyNamespace, table: new ChunkTable() };
    const { journal, records } = await Journal.open<MasterEvent>(dir, { log });
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
    return { store: new MasterStore(dir, journal, checkpoint?.seq ?? 0, log), ns, table };
  }

  append(events: MasterEvent[]): Promise<void> {
    return this.journal.append(events);
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
    this.journal = (await Journal.open<MasterEvent>(this.dir, { log: this.log })).journal;
    this.checkpointSeq = ns.seq;
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
