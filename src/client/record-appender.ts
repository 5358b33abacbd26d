import type { ChunkMutator } from './chunk-mutator.js';
import { PIECE_BYTES } from './file-writer.js';

/** Batches of one file in flight at once, from one client. */
const BATCHES_IN_FLIGHT = 2;

/** Batches sent, records in them, and records sent again in a retried batch (each of those may appear twice). */
export interface AppendCounters {
  batches: number;
  records: number;
  resent: number;
}

interface Waiting {
  record: Buffer;
  resolve: (offset: number) => void;
  reject: (err: unknown) => void;
}

/**
 * Record appends of one client to one file (GFS 3.3). Records that arrive
 * while this client's batches are in flight wait and then go together, as
 * one mutation (as a Kafka producer batches): one push, one commit and one
 * sync for many records. Each record is still whole at its own offset, and
 * a batch's records lie one after another; a batch that is retried may
 * appear twice, all of it (at least once). A batch is at most a quarter of
 * a chunk, so it always fits in an empty chunk.
 */
export class RecordAppender {
  /** The chunk appends go to next: the file's last at first, then the one the primary last took a batch into. */
  private index: number | 'last' = 'last';
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  /** A send is scheduled for the end of this turn of the event loop. */
  private sendScheduled = false;
  constructor(
    private readonly mutator: ChunkMutator,
    readonly path: string,
    readonly chunkSize: number,
    /** The client's counters, which this appender adds to. */
    private readonly sent: AppendCounters,
  ) {}

  /** The largest record: a quarter of a chunk (GFS keeps padding waste bounded the same way). */
  get maxRecordBytes(): number {
    return this.chunkSize / 4;
  }

  /** Resolves with the record's offset in the file once it is synced on every replica. */
  append(record: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ record, resolve, reject });
      this.scheduleSend();
    });
  }

  /**
   * Sends once this turn of the event loop is over, so that the records
   * appended in it (say, by the callers whose last batch just came back) go
   * in one batch rather than the first alone.
   */
  private scheduleSend(): void {
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    setImmediate(() => {
      this.sendScheduled = false;
      this.sendWaiting();
    });
  }

  private sendWaiting(): void {
    const limit = Math.min(PIECE_BYTES, this.maxRecordBytes);
    while (this.inFlight < BATCHES_IN_FLIGHT && this.waiting.length > 0) {
      const batch = [this.waiting.shift()!];
      let bytes = batch[0]!.record.length;
      while (this.waiting.length > 0 && bytes + this.waiting[0]!.record.length <= limit) {
        bytes += this.waiting[0]!.record.length;
        batch.push(this.waiting.shift()!);
      }
      this.inFlight++;
      this.sent.batches++;
      this.sent.records += batch.length;
      this.appendBatch(batch.length === 1 ? batch[0]!.record : Buffer.concat(batch.map((w) => w.record), bytes), batch.length)
        .then(
          (offset) => {
            for (const waiting of batch) {
              waiting.resolve(offset);
              offset += waiting.record.length;
            }
          },
          (err: unknown) => batch.forEach((waiting) => waiting.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.scheduleSend();
        });
    }
  }

  private async appendBatch(data: Buffer, records: number): Promise<number> {
    for (;;) {
      const at = this.index;
      const result = await this.mutator.mutate(this.path, at, 'append', 0, data);
      this.sent.resent += records * (result.attempts - 1);
      // Another batch of ours may have moved on to a later chunk meanwhile: never go back.
      if (!result.padded) {
        if (this.index === at) this.index = result.index;
        return result.index * this.chunkSize + result.offset;
      }
      // The chunk was full: the primary padded it, and the batch goes to the next one.
      if (this.index === at) this.index = result.index + 1;
    }
  }
}
