import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { OfsError } from '../core/errors.js';
import { PUT_MAX_BYTES, type ReplyOf } from '../transport/protocol.js';
import { RpcClient } from '../transport/rpc-client.js';
import { WireIdentity } from '../security/wire-identity.js';
import { RenewingZkSession } from '../zk/renewing-session.js';
import { RecordAppender, type AppendCounters } from './record-appender.js';
import { readableSize, readPieces, resolveRange, sameFile } from './file-reader.js';
import { ChunkMutator } from './chunk-mutator.js';
import { FileWriter, PIECE_BYTES } from './file-writer.js';
import { MasterLink } from './master-link.js';

export interface ConnectOptions {
  /** ZooKeeper connect string, `host:port[,host:port...]`. */
  zk: string;
  /** How long to wait for ZooKeeper before failing (ms). */
  connectTimeoutMs?: number;
  /**
   * How long one step of a call (a request to the master, a chunk mutation, a
   * piece read) keeps retrying while the cluster does not answer: a failover
   * in progress, ZooKeeper down. No step waits longer; then the call fails
   * with the last error (EUNAVAILABLE naming ZooKeeper when the active master
   * could not be looked up). Default 20 s.
   */
  retryForMs?: number;
  /**
   * The cluster's keys directory (or the client's copy of it: roster.json and
   * client.key): calls go over CURVE as a client. Without it, calls are
   * plain, and a secure cluster refuses them (EACCES).
   */
  keys?: string;
  /**
   * Whose key to call with, from `keys`: a user made by `ofs keys add-user`
   * (its key in KEYS/users/NAME.key); `client`, the client key's user, the
   * default; or `operator`, the operator key's, which is the superuser. The
   * master checks file permissions for this user.
   */
  user?: string;
}

export type DirectoryEntry = ReplyOf<'master.list'>['entries'][number];
export type FileStat = ReplyOf<'master.locate'>;
export type ClusterStatus = ReplyOf<'master.status'>;
export type FsckReport = ReplyOf<'master.fsck'>;

const MASTER_CALL_TIMEOUT_MS = 10_000;


/** Pause before locating again a file whose chunk locations have not all been reported yet. */
const LOCATE_RETRY_MS = 200;

/**
 * The programmatic OFS client. Metadata goes to the active master (found via
 * ZooKeeper); bytes go straight to and from chunkservers.
 */
export class OfsClient {
  private readonly mutator: ChunkMutator;
  /** Per file this client appends to, what gathers and places its records. */
  private readonly appenders = new Map<string, Promise<RecordAppender>>();
  private readonly appendCounters: AppendCounters = { batches: 0, records: 0, resent: 0 };

  private constructor(
    private readonly zk: RenewingZkSession,
    private readonly rpc: RpcClient,
    private readonly master: MasterLink,
    private readonly retryForMs: number,
  ) {
    this.mutator = new ChunkMutator(master, rpc, retryForMs);
  }

  static async connect(options: ConnectOptions): Promise<OfsClient> {
    if (options.user !== undefined && options.keys === undefined) throw new OfsError('EINVAL', `user ${options.user} needs the keys directory that holds its key (keys)`);
    const identity = options.keys === undefined ? undefined : await WireIdentity.loadUser(options.keys, options.user ?? 'client');
    const zk = await RenewingZkSession.connect(options.zk, { connectTimeoutMs: options.connectTimeoutMs ?? 5000, keepAlive: false });
    const rpc = new RpcClient(`client-${randomBytes(4).toString('hex')}`, () => 0, identity);
    const retryForMs = options.retryForMs ?? 20_000;
    return new OfsClient(zk, rpc, new MasterLink(zk, rpc, retryForMs, MASTER_CALL_TIMEOUT_MS), retryForMs);
  }

  /**
   * Without `offset`: creates (or replaces) `path` with `data`, making missing
   * parent directories. With `offset`: writes `data` there in the existing
   * file, overwriting what was there and extending it if the range passes its
   * end (a gap past the old end reads as zeros). `mode`: the new file's
   * permission bits (0644 by default).
   */
  async write(path: string, data: Buffer | Uint8Array | string, options: { overwrite?: boolean; offset?: number; mode?: number } = {}): Promise<void> {
    const bytes = toBuffer(data);
    const overwrite = options.overwrite ?? true;
    // A small file whole, replacing any: one call, the master writes its chunk's replicas (design.md, "A small file").
    if (options.offset === undefined && overwrite && bytes.length > 0 && bytes.length <= PUT_MAX_BYTES) {
      await this.master.call('master.put', { path, length: bytes.length, mode: options.mode }, { data: [bytes] });
      return;
    }
    const writer =
      options.offset === undefined
        ? await FileWriter.create(this.master, this.mutator, path, { overwrite, lease: bytes.length > 0, mode: options.mode })
        : await this.writerAt(path, options.offset);
    await writer.write(bytes);
    await writer.close();
  }

  /**
   * Record append (GFS 3.3): adds `data` as one record at an offset the
   * primary chooses, atomically and at least once, and returns that offset
   * once the record is synced on every replica. A record never straddles
   * chunks; at most a quarter of the chunk size. An error does not mean the
   * record is absent: a failed attempt's bytes stay where the primary put
   * them, and may be read (docs/consistency.md). The file is created if
   * missing. The master is not asked per record: the lease is reused while it
   * lasts, and the file's size follows from the chunk's length, which the
   * primary reports with its heartbeats (until then, readers learn it from a
   * replica).
   */
  async append(path: string, data: Buffer | Uint8Array | string): Promise<number> {
    const record = toBuffer(data);
    try {
      return await this.appendOnce(path, record);
    } catch (err) {
      // Deleted or renamed since this client last appended to it: the file is made again, as for a first append.
      if ((err as OfsError).code !== 'ENOENT') throw err;
      return this.appendOnce(path, record);
    }
  }

  private async appendOnce(path: string, record: Buffer): Promise<number> {
    let appender = this.appenders.get(path);
    if (!appender) this.appenders.set(path, (appender = this.appenderFor(path)));
    const target = await appender.catch((err: unknown) => {
      if (this.appenders.get(path) === appender) this.appenders.delete(path);
      throw err;
    });
    if (record.length === 0 || record.length > target.maxRecordBytes) {
      throw new OfsError('EINVAL', `a record must be 1 to ${target.maxRecordBytes} bytes (a quarter of a chunk), not ${record.length}`);
    }
    return target.append(record).catch((err: unknown) => {
      // The file may be gone or replaced: look it up again next time.
      if (this.appenders.get(path) === appender) this.appenders.delete(path);
      throw err;
    });
  }

  /** The appender of `path`, which is made if missing. */
  private async appenderFor(path: string): Promise<RecordAppender> {
    // Without chunks: appending needs w on the file, not r.
    const { chunkSize } = await this.stat(path, { chunks: false }).catch(async (err: OfsError) => {
      if (err.code !== 'ENOENT') throw err;
      await this.master.call('master.create', { path, overwrite: false }).catch((e: OfsError) => {
        if (e.code !== 'EEXIST') throw e; // another appender made it first
      });
      return this.stat(path, { chunks: false });
    });
    return new RecordAppender(this.mutator, path, chunkSize, this.appendCounters);
  }

  private async writerAt(path: string, offset: number): Promise<FileWriter> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new OfsError('EINVAL', `invalid write offset ${offset}`);
    const file = await this.stat(path, { chunks: false });
    if (file.type === 'dir') throw new OfsError('EISDIR', `${path} is a directory`);
    return new FileWriter(this.master, this.mutator, path, file.chunkSize, offset);
  }

  /** Reads a range (the whole file by default) into one Buffer; use createReadStream for large files. */
  async read(path: string, range: { offset?: number; length?: number } = {}): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const piece of this.createReadStream(path, range)) parts.push(piece as Buffer);
    return Buffer.concat(parts);
  }

  createReadStream(path: string, range: { offset?: number; length?: number } = {}): Readable {
    const self = this;
    return Readable.from(
      (async function* () {
        const deadline = Date.now() + self.retryForMs;
        const located = await self.locateReadable(path, 0, deadline);
        const relocate = (from: number, until: number) => self.locateReadable(path, from, until);
        // Only a read that may pass the master's size asks where the file really ends.
        const mayPassSize = range.length === undefined || (range.offset ?? 0) + range.length > located.size;
        const size = mayPassSize ? await readableSize(self.rpc, located, relocate, deadline) : located.size;
        yield* readPieces(self.rpc, located, resolveRange(size, range.offset, range.length), relocate, self.retryForMs);
      })(),
      { objectMode: false, highWaterMark: PIECE_BYTES },
    );
  }

  /**
   * A stream that creates (or replaces) `path`; the file is complete when the
   * stream finishes. A stream that replaces and ends within PUT_MAX_BYTES is
   * put whole, as `write` puts a small file: its first bytes wait until it
   * is known which, and the file is made only then.
   */
  createWriteStream(path: string, options: { overwrite?: boolean; mode?: number } = {}): Writable {
    const overwrite = options.overwrite ?? true;
    let writer: Promise<FileWriter> | undefined;
    let held: Buffer[] = [];
    let heldBytes = 0;
    const open = (lease: boolean) => (writer ??= FileWriter.create(this.master, this.mutator, path, { overwrite, lease, mode: options.mode }));
    const put = (bytes: Buffer) => this.write(path, bytes, { mode: options.mode });
    return new Writable({
      highWaterMark: PIECE_BYTES,
      write(data: Buffer, _encoding, done) {
        if (!writer && overwrite && heldBytes + data.length <= PUT_MAX_BYTES) {
          held.push(data);
          heldBytes += data.length;
          done();
          return;
        }
        const first = held;
        const lease = heldBytes + data.length > 0;
        held = [];
        heldBytes = 0;
        open(lease)
          .then(async (w) => {
            for (const bytes of [...first, data]) await w.write(bytes);
          })
          .then(() => done(), done);
      },
      final(done) {
        const finished = !writer && heldBytes > 0 ? put(Buffer.concat(held)) : open(false).then((w) => w.close());
        finished.then(() => done(), done);
      },
    });
  }

  /**
   * A directory's entries in name order: all of them, fetched a page at a
   * time, or with `limit` the one page of at most that many after the name
   * `after`. (`entries` streams a large directory instead of holding it.)
   */
  async list(path = '/', options: { after?: string; limit?: number } = {}): Promise<DirectoryEntry[]> {
    if (options.limit !== undefined) return (await this.master.call('master.list', { path, ...options })).entries;
    const all: DirectoryEntry[] = [];
    for await (const entry of this.entries(path, options)) all.push(entry);
    return all;
  }

  /**
   * A directory's entries in name order, a page at a time from the master
   * (`pageSize` entries, the master's most, 10,000, by default).
   * Like HDFS's listing iterator, it is not one snapshot: an entry created or
   * removed while the listing runs may or may not appear, but every entry
   * that exists throughout appears exactly once.
   */
  async *entries(path = '/', options: { after?: string; pageSize?: number } = {}): AsyncGenerator<DirectoryEntry> {
    let after = options.after;
    for (;;) {
      const page = await this.master.call('master.list', { path, after, limit: options.pageSize });
      yield* page.entries;
      if (!page.more || page.entries.length === 0) return;
      after = page.entries.at(-1)!.name;
    }
  }

  /** `mode`: its permission bits (0755 by default); missing parents made with `parents` get 0755. */
  async mkdir(path: string, options: { parents?: boolean; mode?: number } = {}): Promise<void> {
    await this.master.call('master.mkdir', { path, parents: options.parents ?? false, mode: options.mode });
  }

  /** Sets the permission bits of `path` (12 bits, as `chmod 1750`): its owner or the superuser may. */
  async chmod(path: string, mode: number): Promise<void> {
    await this.master.call('master.chmod', { path, mode });
  }

  /**
   * Gives `path` to `owner` (the superuser only) and/or `group` (also its
   * owner, to a group the owner is in). Any well-formed name is taken, as in
   * HDFS: owners need not be users the cluster knows yet.
   */
  async chown(path: string, change: { owner?: string; group?: string }): Promise<void> {
    await this.master.call('master.chown', { path, ...change });
  }

  async delete(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.master.call('master.delete', { path, recursive: options.recursive ?? false });
  }

  /** Brings back the most recently deleted `path` from the trash (until GC removed it). */
  async undelete(path: string): Promise<void> {
    await this.master.call('master.undelete', { path });
  }

  async rename(from: string, to: string): Promise<void> {
    await this.master.call('master.rename', { from, to });
  }

  /**
   * Type, size, owner, group and mode; with `chunks` (the default) also the
   * chunks, each with its version and the chunkservers holding it. Where a
   * file's chunks are is what reading it takes, so that needs r on it;
   * `chunks: false` needs only the right to traverse to it. The master lists
   * 128 chunks an answer: a file replaced between two fails with ESTALE.
   */
  async stat(path: string, options: { chunks?: boolean } = {}): Promise<FileStat> {
    if (options.chunks === false) return this.master.call('master.locate', { path, chunks: false });
    // The master lists a window of chunks per reply: ask on from where the last one ended.
    let file = await this.master.call('master.locate', { path });
    const chunks = [...file.chunks];
    while (chunks.length < file.chunkCount) {
      file = sameFile(file, await this.master.call('master.locate', { path, from: chunks.length }));
      if (file.chunks.length === 0) break;
      chunks.push(...file.chunks);
    }
    return { ...file, chunks };
  }

  /**
   * The cluster as the active master sees it. `digest`: a digest of its whole
   * namespace too (for comparing masters); `underReplicated`: a count of the
   * chunks short of replicas. Each is a look at everything the master holds.
   */
  async status(options: { digest?: boolean; underReplicated?: boolean } = {}): Promise<ClusterStatus> {
    return this.master.call('master.status', options);
  }

  /** Asks for disk use to be evened out down to `threshold` (fill spread, 0-1) now; returns progress. */
  async balance(threshold: number): Promise<ReplyOf<'master.balance'>> {
    return this.master.call('master.balance', { threshold });
  }

  /** Replica health of every file at or below `path`. */
  async fsck(path = '/'): Promise<FsckReport> {
    return this.master.call('master.fsck', { path });
  }

  /**
   * Counters of this client: chunk mutations it had to retry; appended
   * records, the batches they went in, and records sent again in a retried
   * batch (each of those may appear twice in its file).
   */
  stats(): { mutationRetries: number; recordsAppended: number; appendBatches: number; recordsResent: number } {
    const { records, batches, resent } = this.appendCounters;
    return { mutationRetries: this.mutator.retries, recordsAppended: records, appendBatches: batches, recordsResent: resent };
  }

  /** Makes the active master write a checkpoint now (old journal segments can then go). */
  async checkpoint(): Promise<{ seq: number; path: string }> {
    return this.master.call('master.checkpoint', {});
  }

  async close(): Promise<void> {
    this.master.stop();
    this.rpc.close();
    await this.zk.close();
  }

  /**
   * Locates the window of `path`'s chunks from chunk `from`, for reading.
   * Right after a master starts, chunk locations are still arriving in
   * chunkserver reports: wait for them (until `deadline`) rather than fail.
   */
  private async locateReadable(path: string, from: number, deadline: number): Promise<FileStat> {
    for (;;) {
      const file = await this.master.call('master.locate', { path, from }, { deadline });
      if (file.type === 'dir') throw new OfsError('EISDIR', `${path} is a directory`);
      const missing = file.chunks.filter((c) => c.length > 0 && c.version > 0 && c.replicas.length === 0);
      if (missing.length === 0 || Date.now() + LOCATE_RETRY_MS >= deadline) return file;
      await sleep(LOCATE_RETRY_MS);
    }
  }
}

function toBuffer(data: Buffer | Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
