/**
 * The master's operation log (GFS 2.7): an append-only sequence of records,
 * each durable before the mutation it describes is applied or answered.
 *
 * On disk: `<dir>/journal/<first seq, 20 digits>.log`, segments of framed
 * records (see journal-codec.ts). Records are JSON objects carrying an integer
 * `seq` that the caller assigns; the journal only checks that each record's seq
 * is the previous one plus 1, on append and again on open, so a lost or
 * duplicated record can never be folded into the state unnoticed.
 *
 * Durability: `append` resolves only after the bytes are written and
 * fdatasync'ed. Appends that arrive while a sync is in flight are batched into
 * the next single write + fdatasync (group commit), so the number of syncs
 * follows the disk's latency, not the number of callers.
 *
 * Recovery (etcd's `wal/repair.go`): a torn tail in the last segment is the
 * write that was in flight at the crash; it was never acknowledged, so it is cut
 * and logged. Anything else that fails to decode is corruption of acknowledged
 * data, and `open` refuses to go on.
 *
 * One process at a time: nothing here locks the directory against a second
 * writer; the supervisor and ZooKeeper election are what keep it single.
 */
import { writeSync } from 'node:fs';
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { syncDirectory } from './durable-file.js';
import { join } from 'node:path';
import { decodeRecords, encodeRecord } from './journal-codec.js';
import { OfsError } from '../core/errors.js';

/** What the journal needs of a record; everything else is the caller's. */
export type JournalRecord = { seq: number };

export type JournalOptions = {
  /** A segment is closed and a new one started before a write would take it past this. Default 64 MiB. */
  segmentBytes?: number;
  /** Where recovery reports what it cut. Default: console.warn. */
  log?: (msg: string) => void;
  metrics?: JournalMetrics;
};

/** What the journal reports of each group commit (metrics, at the edge). */
export interface JournalMetrics {
  /** One write + fdatasync of `records` records took `seconds`. */
  synced(seconds: number, records: number): void;
}

export type JournalStats = {
  /** fdatasync calls on segment files: one per group-committed batch. */
  syncs: number;
  /** Records made durable by this instance. */
  recordsAppended: number;
  /** Bytes (framing included) made durable by this instance. */
  bytesAppended: number;
  /** Segment files the journal currently holds. */
  segments: number;
  /** Highest durable seq (0 for an empty journal). */
  lastSeq: number;
};

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const SEGMENT_DIGITS = 20;
const SEGMENT_NAME = /^(\d{20})\.log$/;

export function segmentFileName(firstSeq: number): string {
  return String(firstSeq).padStart(SEGMENT_DIGITS, '0') + '.log';
}

type Segment = {
  /** Seq of the first record; from the file name, so an empty segment still says where it starts. */
  firstSeq: number;
  path: string;
  /** Bytes that are verified (at open) or fdatasync'ed (since): readers never look past this. */
  durableBytes: number;
};

type PendingAppend = {
  frames: Buffer[];
  /** Undefined for an empty append (a barrier: resolves when what came before is durable). */
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
};

export class Journal<R extends JournalRecord = JournalRecord> {
  private readonly segmentBytes: number;
  private active: FileHandle | undefined;
  /** Seq the next appended record must carry; undefined while the journal has never held a record. */
  private expectedSeq: number | undefined;
  private durableLastSeq: number;
  private queue: PendingAppend[] = [];
  private flushing: Promise<void> | undefined;
  /** Set when a write or sync failed: the file's tail is unknown, so nothing more may be appended. */
  private failure: OfsError | undefined;
  private closed = false;
  private counters = { syncs: 0, recordsAppended: 0, bytesAppended: 0 };

  private constructor(
    private readonly dir: string,
    private readonly segments: Segment[],
    active: FileHandle | undefined,
    lastSeq: number | undefined,
    segmentBytes: number,
    private readonly metrics: JournalMetrics | undefined,
  ) {
    this.active = active;
    this.segmentBytes = segmentBytes;
    const last = segments.at(-1);
    this.expectedSeq = lastSeq !== undefined ? lastSeq + 1 : last?.firstSeq;
    this.durableLastSeq = lastSeq ?? (last ? last.firstSeq - 1 : 0);
  }

  /**
   * Reads every segment in order, cuts a torn tail off the last one, and returns
   * the journal ready to append together with all records it holds.
   * Rejects with ECORRUPT (naming the file and byte offset, or the seq) on
   * anything that is not a torn tail of the last segment.
   */
  static async open<R extends JournalRecord = JournalRecord>(
    dir: string,
    opts: JournalOptions = {},
  ): Promise<{ journal: Journal<R>; records: R[] }> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes <= 0) {
      throw new OfsError('EINVAL', `journal segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    const log = opts.log ?? ((msg: string) => console.warn(msg));
    const journalDir = join(dir, 'journal');
    const created = await mkdir(journalDir, { recursive: true });
    if (created !== undefined) {
      // Make the new directories themselves durable, or a crash could lose the
      // whole journal directory along with its fsync'ed segments.
      await syncDirectory(journalDir);
      await syncDirectory(dir);
    }

    const names = (await readdir(journalDir)).filter((n) => SEGMENT_NAME.test(n));
    const segments: Segment[] = names
      .map((name) => ({ firstSeq: Number(SEGMENT_NAME.exec(name)![1]), path: join(journalDir, name), durableBytes: 0 }))
      .sort((a, b) => a.firstSeq - b.firstSeq);

    const records: R[] = [];
    let lastSeq: number | undefined;
    let active: FileHandle | undefined;
    try {
      for (const [i, segment] of segments.entries()) {
        const isLast = i === segments.length - 1;
        if (lastSeq !== undefined && segment.firstSeq !== lastSeq + 1) {
          throw new OfsError(
            'ECORRUPT',
            `journal segment ${segment.path} starts at seq ${segment.firstSeq}, expected seq ${lastSeq + 1}` +
              ` (records ${lastSeq + 1}..${segment.firstSeq - 1} are missing or duplicated)`,
          );
        }
        const handle = await open(segment.path, isLast ? 'a+' : 'r');
        try {
          const bytes = await readWhole(handle);
          const decoded = decodeRecords(bytes);
          if (decoded.problem) {
            const { kind, offset, detail } = decoded.problem;
            if (!isLast || kind !== 'torn') {
              const where = isLast ? 'the last segment' : 'a segment that is not the last';
              throw new OfsError(
                'ECORRUPT',
                `journal segment ${segment.path}: ${kind === 'torn' ? 'cut-off' : 'corrupt'} record at byte offset ` +
                  `${offset} in ${where} (${detail}); ${decoded.records.length} records before it are intact`,
              );
            }
            await handle.truncate(decoded.validEnd);
            await handle.sync();
            log(
              `journal: cut torn tail of ${segment.path} at byte offset ${decoded.validEnd}: ` +
                `${bytes.length - decoded.validEnd} bytes removed (${detail})`,
            );
          }
          segment.durableBytes = decoded.validEnd;
          let expected = segment.firstSeq;
          for (const [j, payload] of decoded.records.entries()) {
            const record = parseRecord<R>(payload, segment.path, decoded.offsets[j]!);
            if (record.seq !== expected) {
              throw new OfsError(
                'ECORRUPT',
                `journal segment ${segment.path}: record at byte offset ${decoded.offsets[j]} has seq ${record.seq}, ` +
                  `expected seq ${expected}`,
              );
            }
            records.push(record);
            lastSeq = expected;
            expected++;
          }
          if (isLast) active = handle;
        } finally {
          if (handle !== active) await handle.close();
        }
      }
    } catch (err) {
      await active?.close();
      throw err;
    }
    return { journal: new Journal<R>(dir, segments, active, lastSeq, segmentBytes, opts.metrics), records };
  }

  /** Highest seq that is durable (0 for a journal that has never held a record). */
  lastSeq(): number {
    return this.durableLastSeq;
  }

  /**
   * Seq the next `append` must start with, counting appends still in flight;
   * undefined for a journal that has never held a record (it accepts any start).
   */
  nextSeq(): number | undefined {
    return this.expectedSeq;
  }

  stats(): JournalStats {
    return { ...this.counters, segments: this.segments.length, lastSeq: this.durableLastSeq };
  }

  /**
   * Makes `records` durable, in order, after everything appended before them.
   * Resolves once they are fdatasync'ed. Rejects with EINVAL (and changes
   * nothing) if a seq does not continue the journal; rejects every append with
   * the I/O error once a write or sync has failed (the tail is then unknown,
   * and a restart's recovery is the only safe way on; cf. "fsyncgate").
   * An empty `records` resolves when everything appended before it is durable.
   */
  append(records: readonly R[]): Promise<void> {
    if (this.closed) return Promise.reject(new OfsError('EINTERNAL', 'journal.append after close'));
    if (this.failure) return Promise.reject(this.failure);
    let frames: Buffer[];
    let expected = this.expectedSeq;
    try {
      frames = records.map((record, i) => {
        if (typeof record !== 'object' || record === null || Array.isArray(record)) {
          throw new OfsError('EINVAL', `journal record ${i} is not an object`);
        }
        const { seq } = record;
        if (!Number.isSafeInteger(seq) || seq < 0) {
          throw new OfsError('EINVAL', `journal record ${i} has seq ${String(seq)}, not a non-negative integer`);
        }
        if (expected !== undefined && seq !== expected) {
          throw new OfsError('EINVAL', `journal record ${i} has seq ${seq}, expected seq ${expected}`);
        }
        expected = seq + 1;
        let json: string | undefined;
        try {
          json = JSON.stringify(record);
        } catch (err) {
          throw new OfsError('EINVAL', `journal record seq ${seq} is not JSON-serializable: ${(err as Error).message}`);
        }
        return encodeRecord(Buffer.from(json, 'utf8'));
      });
    } catch (err) {
      return Promise.reject(err);
    }
    this.expectedSeq = expected;
    const firstSeq = records[0]?.seq;
    const lastSeq = records.at(-1)?.seq;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ frames, firstSeq, lastSeq, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /**
   * Durable records with seq >= `seq`, read from disk (for a standby catching
   * up). Rejects with ENOENT if `seq` is below the oldest seq still held (its
   * segment was removed after a checkpoint): the reader needs a checkpoint.
   */
  async readFrom(seq: number): Promise<R[]> {
    if (!Number.isSafeInteger(seq)) throw new OfsError('EINVAL', `readFrom: seq ${seq} is not an integer`);
    // Snapshot now: appends that land while we read are not returned half-synced.
    const upTo = this.durableLastSeq;
    const segments = this.segments.map((s) => ({ ...s }));
    if (segments.length === 0 || seq > upTo) return [];
    if (seq < segments[0]!.firstSeq) {
      throw new OfsError(
        'ENOENT',
        `journal no longer holds seq ${seq}: its oldest record is seq ${segments[0]!.firstSeq}; catch up from a checkpoint`,
      );
    }
    const out: R[] = [];
    for (const [i, segment] of segments.entries()) {
      const segmentLast = i + 1 < segments.length ? segments[i + 1]!.firstSeq - 1 : upTo;
      if (segmentLast < seq) continue;
      let bytes: Buffer;
      try {
        bytes = await readPrefix(segment.path, segment.durableBytes);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new OfsError('ENOENT', `journal segment ${segment.path} was removed while reading from seq ${seq}`);
        }
        throw err;
      }
      const decoded = decodeRecords(bytes);
      if (decoded.problem) {
        throw new OfsError(
          'ECORRUPT',
          `journal segment ${segment.path}: bad record at byte offset ${decoded.problem.offset} ` +
            `in bytes that were durable (${decoded.problem.detail})`,
        );
      }
      for (const [j, payload] of decoded.records.entries()) {
        const record = parseRecord<R>(payload, segment.path, decoded.offsets[j]!);
        if (record.seq >= seq && record.seq <= upTo) out.push(record);
      }
    }
    return out;
  }

  /**
   * Deletes whole segments whose records all have seq < `seq` (they are covered
   * by a checkpoint). The newest segment is always kept, so the journal still
   * knows its last seq after a restart. Oldest first, so a crash part-way leaves
   * a contiguous journal. Returns how many segments were removed.
   */
  async removeSegmentsBefore(seq: number): Promise<number> {
    const victims: Segment[] = [];
    while (this.segments.length > 1 && this.segments[1]!.firstSeq <= seq) victims.push(this.segments.shift()!);
    for (const segment of victims) {
      await unlink(segment.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    if (victims.length > 0) await syncDirectory(join(this.dir, 'journal'));
    return victims.length;
  }

  /** Waits for appends already made to become durable, then releases the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.active?.close();
    this.active = undefined;
  }

  private async flushLoop(): Promise<void> {
    // One turn of the event loop's microtasks lets callers of the same tick
    // share the first batch too.
    await Promise.resolve();
    // The emptiness check and clearing `flushing` happen with no await in
    // between, so an append can never be queued with no loop to flush it.
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      await this.commit(batch);
    }
    this.flushing = undefined;
  }

  private async commit(batch: PendingAppend[]): Promise<void> {
    if (this.failure) {
      for (const p of batch) p.reject(this.failure);
      return;
    }
    const frames = batch.flatMap((p) => p.frames);
    if (frames.length > 0) {
      const bytes = Buffer.concat(frames);
      // Not durableLastSeq + 1: the first record an empty journal ever takes may
      // start anywhere (a standby seeded from a checkpoint).
      const firstSeq = batch.find((p) => p.firstSeq !== undefined)!.firstSeq!;
      try {
        const segment = await this.segmentFor(firstSeq, bytes.length);
        const started = performance.now();
        appendAll(this.active!, bytes);
        await this.active!.datasync();
        this.metrics?.synced((performance.now() - started) / 1000, frames.length);
        this.counters.syncs++;
        segment.durableBytes += bytes.length;
        this.counters.bytesAppended += bytes.length;
        this.counters.recordsAppended += frames.length;
        this.durableLastSeq = batch.reduce((last, p) => p.lastSeq ?? last, this.durableLastSeq);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        this.failure = new OfsError(
          e.code === 'ENOSPC' ? 'ENOSPC' : 'EINTERNAL',
          `journal write failed; no more appends until a restart recovers the tail: ${e.message}`,
        );
        for (const p of [...batch, ...this.queue.splice(0)]) p.reject(this.failure);
        return;
      }
    }
    for (const p of batch) p.resolve();
  }

  /** The segment this batch goes into: the active one, or a new one if it would grow past segmentBytes. */
  private async segmentFor(firstSeq: number, bytes: number): Promise<Segment> {
    const current = this.segments.at(-1);
    if (current && this.active && (current.durableBytes === 0 || current.durableBytes + bytes <= this.segmentBytes)) {
      return current;
    }
    const segment: Segment = {
      firstSeq,
      path: join(this.dir, 'journal', segmentFileName(firstSeq)),
      durableBytes: 0,
    };
    // 'ax': a leftover file with this name would mean two histories; fail loudly.
    const handle = await open(segment.path, 'ax');
    // The new file's directory entry must be durable before records in it are
    // acknowledged; the previous segment was already fdatasync'ed in full.
    await syncDirectory(join(this.dir, 'journal'));
    await this.active?.close();
    this.active = handle;
    this.segments.push(segment);
    return segment;
  }
}

function parseRecord<R extends JournalRecord>(payload: Buffer, path: string, offset: number): R {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new OfsError(
      'ECORRUPT',
      `journal segment ${path}: record at byte offset ${offset} passes its CRC but is not JSON (${(err as Error).message})`,
    );
  }
  if (typeof value !== 'object' || value === null || !Number.isSafeInteger((value as { seq?: unknown }).seq)) {
    throw new OfsError('ECORRUPT', `journal segment ${path}: record at byte offset ${offset} has no integer seq`);
  }
  return value as R;
}

async function readWhole(handle: FileHandle): Promise<Buffer> {
  const { size } = await handle.stat();
  const buf = Buffer.alloc(size);
  let read = 0;
  while (read < size) {
    const { bytesRead } = await handle.read(buf, read, size - read, read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return buf.subarray(0, read);
}

async function readPrefix(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await handle.read(buf, read, length - read, read);
      if (bytesRead === 0) {
        throw new OfsError('ECORRUPT', `journal segment ${path} is ${read} bytes, shorter than its ${length} durable bytes`);
      }
      read += bytesRead;
    }
    return buf;
  } finally {
    await handle.close();
  }
}

/**
 * Appends `bytes` (the segment is open O_APPEND) on this thread: they land past
 * the end, where the one page already holding bytes is cached (read at
 * start-up, or just written), so no read waits for the disk; a batch is some
 * KB, and handing the write to libuv's pool cost more than the write
 * (chunk-file.ts). The fdatasync after it goes to the pool.
 */
function appendAll(handle: FileHandle, bytes: Buffer): void {
  for (let written = 0; written < bytes.length; ) written += writeSync(handle.fd, bytes, written, bytes.length - written, null);
}
