import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { OfsError } from '../core/errors.js';
import {
  BLOCK_SIZE,
  blockBounds,
  blockCount,
  blocksCovering,
  checksumsAfterWrite,
  edgeBlocksToVerify,
} from './block-checksums.js';
import { assertChunkId } from '../core/chunk-id.js';
import {
  chunkPaths,
  classifyChunkFiles,
  errnoOf,
  readFully,
  toChunkError,
  unlinkIfPresent,
  writeFully,
  type ChunkPaths,
} from './chunk-files.js';
import { MAX_META_CHUNK_SIZE, firstSlot, fitsSlot, slotStrideFor, type ChunkMeta, type DecodedMetaFile, type NewestSlot } from './chunk-meta.js';
import { initMetaFile, readMetaFile, rewriteMetaFile, writeMetaSlot } from './chunk-meta-file.js';
import { CoalescedSync } from './coalesced-sync.js';
import { MetaOrder } from './meta-order.js';
import { ChunkFile } from './chunk-file.js';
import { OpenFiles } from './open-files.js';
import { ReadBuffers } from './read-buffers.js';

export { BLOCK_SIZE };

export interface ChunkInfo {
  id: string;
  version: number;
  length: number;
  /** The length as of the last sync: what survives a crash now. */
  syncedLength: number;
}

export interface ChunkStoreOptions {
  /** Bytes of chunk data this chunkserver may hold; default: no limit but the disk's. */
  capacity?: number;
  /** Largest chunk, in bytes; a write past it is refused. */
  maxChunkSize?: number;
  metrics?: ChunkStoreMetrics;
}

/** What the store reports of its I/O (metrics, at the edge). */
export interface ChunkStoreMetrics {
  /** Chunk bytes written (mutations, padding, copies), and read out checked. */
  written(bytes: number): void;
  read(bytes: number): void;
  /** A chunk's sync (data fdatasync, meta slot write and fdatasync) took `seconds`. */
  synced(seconds: number): void;
  /** Blocks found failing their CRC32C (or unreadable), by a read or by a verify (the scrubber). */
  corrupt(check: 'read' | 'verify', blocks: number): void;
}

export const DEFAULT_MAX_CHUNK_SIZE = 64 * 1024 * 1024;

/** How many chunks open() loads at once: enough to overlap disk latency, few enough for the fd limit. */
const LOAD_CONCURRENCY = 32;
/**
 * A new chunk's first write of at most this many bytes is made on the calling
 * thread (its pages are new, so no read waits for the disk): a small file's
 * bytes, or an append's first record, without a hand-off to libuv's pool
 * (chunk-file.ts). A longer one goes to the pool, as every other write does.
 */
const NEW_CHUNK_WRITE_NOW_BYTES = 64 * 1024;
/** Data and meta files kept open while idle for the next write or sync: the chunks being written now, well under the fd limit. */
const MAX_IDLE_OPEN_FILES = 128;

/**
 * The chunks of one chunkserver on its local disk (GFS §2.5: a chunk is a plain
 * Linux file; §5.2: the chunkserver checksums it in 64 KB blocks and verifies
 * every read, so it never passes corrupt bytes on to a client or another replica).
 *
 * The in-memory table is the truth for list()/get(); the meta files are its
 * durable copy as of the last sync() or setVersion(). Whatever writes a
 * chunk's meta file (sync, setVersion, create, delete) runs in the order it
 * was asked for, so a sync may run beside the writes that follow it. Writes
 * and reads of one chunk must be serialized by the caller (the per-chunk
 * actor); different chunks may be used concurrently.
 */
export class ChunkStore {
  /** Ids found at open() whose files cannot be trusted (unreadable meta, missing data, orphan data). */
  readonly damaged: string[];
  private readonly chunksDir: string;
  private readonly chunks: Map<string, ChunkMeta>;
  private used: number;
  /** Growth promised to writes in flight, so concurrent writes to different chunks cannot overrun capacity. */
  private reserved = 0;
  /** Memory for reads whose bytes are sent on and dropped (`read` with `lent`). */
  readonly readBuffers = new ReadBuffers();
  /** Writes and syncs go through these; reads and verify open their own, so a data file gone from under us reads as corrupt. */
  private readonly openFiles = new OpenFiles(MAX_IDLE_OPEN_FILES);
  /** Each chunk's length in its durable meta. */
  private readonly synced = new Map<string, number>();
  /** Which slot of each chunk's meta file holds its durable meta; none for a format-1 file, rewritten on its next update. */
  private readonly newestSlots = new Map<string, NewestSlot>();
  /** The slot stride of a new meta file: it holds the meta of the largest chunk. */
  private readonly slotStride: number;
  /** Chunks created whose files are not made yet (being made, or failed to be): their first write or sync waits for them or makes them. */
  private readonly unmade = new Set<string>();
  /** Files being made, so that a write and a sync beside it make them once. */
  private readonly making = new Map<string, Promise<void>>();
  /** The last making of a chunk's files failed: the next create waits for its own. */
  private makeFailed = false;
  /** close() has begun: no file is made any more. */
  private closing = false;
  /** Chunks created since their directory was last fsynced: their first sync fsyncs it, once for all that ask together. */
  private readonly namesPending = new Set<string>();
  private readonly directorySync: CoalescedSync;
  /** Syncs, new versions, creates and deletes of each chunk, one at a time in order, whoever asks. */
  private readonly metaOrder = new MetaOrder<ChunkInfo>();

  private constructor(
    readonly dir: string,
    readonly capacity: number,
    readonly maxChunkSize: number,
    loaded: DecodedMetaFile[],
    damaged: string[],
    /** The chunks directory, open for its fsyncs (new names) for as long as the store. */
    private readonly directory: FileHandle,
    private readonly metrics: ChunkStoreMetrics | undefined,
  ) {
    this.chunksDir = path.join(dir, 'chunks');
    this.directorySync = new CoalescedSync(() => directory.sync());
    this.slotStride = slotStrideFor(maxChunkSize);
    this.chunks = new Map();
    this.damaged = damaged;
    this.used = 0;
    for (const { meta, newest } of loaded) {
      this.chunks.set(meta.id, meta);
      this.used += meta.length;
      this.synced.set(meta.id, meta.length);
      if (newest) this.newestSlots.set(meta.id, newest);
    }
  }

  static async open(dir: string, opts: ChunkStoreOptions = {}): Promise<ChunkStore> {
    const capacity = opts.capacity ?? Number.MAX_SAFE_INTEGER;
    const maxChunkSize = opts.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE;
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new OfsError('EINVAL', `chunk store ${dir}: capacity ${capacity} is not a non-negative integer`);
    }
    if (!Number.isSafeInteger(maxChunkSize) || maxChunkSize <= 0 || maxChunkSize > MAX_META_CHUNK_SIZE) {
      throw new OfsError('EINVAL', `chunk store ${dir}: maxChunkSize ${maxChunkSize} is not a positive integer up to ${MAX_META_CHUNK_SIZE}`);
    }
    const chunksDir = path.join(dir, 'chunks');
    const found: DecodedMetaFile[] = [];
    const damaged: string[] = [];
    try {
      await fs.mkdir(chunksDir, { recursive: true });
      const { temps, withData, withMeta } = classifyChunkFiles(await fs.readdir(chunksDir));
      // A temp file is a meta rewrite that crashed before its rename; the old meta still stands.
      for (const name of temps) await unlinkIfPresent(path.join(chunksDir, name));
      const ids = [...new Set([...withMeta, ...withData])].sort();
      for (let i = 0; i < ids.length; i += LOAD_CONCURRENCY) {
        const batch = ids.slice(i, i + LOAD_CONCURRENCY);
        const loaded = await Promise.all(batch.map((id) => loadChunk(chunkPaths(chunksDir, id), id, withMeta.has(id))));
        batch.forEach((id, j) => {
          const chunk = loaded[j];
          if (chunk) found.push(chunk);
          else damaged.push(id);
        });
      }
    } catch (err) {
      throw toChunkError(err, `chunk store ${dir}: open`);
    }
    // Chunks created before a kill -9, their names never fsynced, load from the page cache: the
    // names are made durable now, before any of those chunks is served or synced (their first
    // sync's directory fsync was to come from this process's memory, now gone).
    const directory = await fs.open(chunksDir, 'r').catch((err: unknown) => {
      throw toChunkError(err, `chunk store ${dir}: open`);
    });
    await directory.sync().catch(async (err: unknown) => {
      await directory.close();
      throw toChunkError(err, `chunk store ${dir}: open`);
    });
    return new ChunkStore(dir, capacity, maxChunkSize, found, damaged, directory, opts.metrics);
  }

  list(): ChunkInfo[] {
    return [...this.chunks.values()].map((meta) => this.info(meta));
  }

  get(id: string): ChunkInfo | undefined {
    assertChunkId(id);
    const meta = this.chunks.get(id);
    return meta && this.info(meta);
  }

  usedBytes(): number {
    return this.used;
  }

  async freeBytes(): Promise<number> {
    const stats = await fs.statfs(this.chunksDir);
    const onDisk = Number(stats.bavail) * Number(stats.bsize);
    return Math.max(0, Math.min(this.capacity - this.used - this.reserved, onDisk));
  }

  async create(id: string, version: number): Promise<ChunkInfo> {
    assertChunkId(id);
    assertVersion(id, version);
    return this.metaOrder.run(id, () => this.createNow(id, version));
  }

  private async createNow(id: string, version: number): Promise<ChunkInfo> {
    const existing = this.chunks.get(id);
    if (existing) {
      throw new OfsError('EEXIST', `chunk ${id} already exists on this chunkserver (version ${existing.version})`);
    }
    // Answered before its files are made: placing a chunk need not wait for two opens (every
    // small file's create did). They are begun now, so they are there (in the page cache) by
    // the time its first write comes, which waits for them if not. Nothing about the chunk is
    // durable before its first sync anyway: a crash first leaves no chunk, files open()
    // reports as damaged, or an empty chunk at this version.
    const meta: ChunkMeta = { id, version, length: 0, crcs: new Uint32Array(0) };
    this.unmade.add(id);
    this.namesPending.add(id);
    this.chunks.set(id, meta);
    this.synced.set(id, 0);
    this.forgetDamaged(id);
    const making = this.filesOf(id);
    // After a failure to make a chunk's files (no fd, no inode), the next create waits for its own
    // and fails with them: a server that cannot make files says so before it is chosen for a chunk,
    // not at the chunk's first write. Otherwise a failure is the first write's or sync's to report
    // (they make the files again).
    if (!this.makeFailed) {
      making.catch(() => undefined);
      return this.info(meta);
    }
    try {
      await making;
    } catch (err) {
      this.chunks.delete(id);
      this.synced.delete(id);
      this.unmade.delete(id);
      this.namesPending.delete(id);
      throw err;
    }
    return this.info(meta);
  }

  /**
   * The paths of a chunk, its files made first if they are not yet (a create begins them, without waiting).
   * 'w+' also truncates the files of a damaged chunk with this id: they were untrusted anyway.
   * Both stay open for the writes and syncs that follow.
   */
  private async filesOf(id: string): Promise<ChunkPaths> {
    const paths = this.paths(id);
    if (!this.unmade.has(id)) return paths;
    let making = this.making.get(id);
    if (!making) {
      const meta = this.require(id);
      if (this.closing) throw new OfsError('EUNAVAILABLE', `chunk ${id}: the chunk store is closing`);
      making = (async () => {
        this.openFiles.close(paths.data);
        this.openFiles.close(paths.meta);
        await this.openFiles.use(paths.data, () => undefined, 'w+');
        this.newestSlots.set(id, await this.openFiles.use(paths.meta, (file) => initMetaFile(file, { ...meta, length: 0, crcs: new Uint32Array(0) }, this.slotStride), 'w+'));
        this.unmade.delete(id);
      })().then(
        () => void (this.makeFailed = false),
        (err: unknown) => {
          this.makeFailed = true;
          throw err;
        },
      ).finally(() => this.making.delete(id));
      this.making.set(id, making);
    }
    try {
      await making;
    } catch (err) {
      throw toChunkError(err, `chunk ${id}: create its files`);
    }
    return paths;
  }

  async write(id: string, offset: number, data: Buffer): Promise<ChunkInfo> {
    const chunk = this.require(id);
    const oldLength = chunk.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > oldLength) {
      throw new OfsError(
        'EINVAL',
        `chunk ${id}: write at offset ${offset} is outside [0, ${oldLength}]; a write may not leave a hole`,
      );
    }
    const end = offset + data.length;
    if (end > this.maxChunkSize) {
      throw new OfsError(
        'EINVAL',
        `chunk ${id}: write of ${data.length} bytes at offset ${offset} would end at ${end}, past the maximum chunk size ${this.maxChunkSize}`,
      );
    }
    if (data.length === 0) return this.info(chunk);

    const newLength = Math.max(oldLength, end);
    const growth = newLength - oldLength;
    const available = this.capacity - this.used - this.reserved;
    if (growth > available) {
      throw new OfsError(
        'ENOSPC',
        `chunk ${id}: write of ${data.length} bytes at offset ${offset} needs ${growth} more bytes, but only ${Math.max(0, available)} of this chunkserver's capacity ${this.capacity} are free`,
      );
    }
    this.reserved += growth;
    try {
      return await this.openFiles.use((await this.filesOf(id)).data, async (fh) => {
        const edges = new Map<number, Buffer>();
        for (const b of edgeBlocksToVerify(oldLength, offset, data.length)) {
          edges.set(b, await readVerifiedBlock(fh, chunk, b));
        }
        if (end > oldLength) {
          // The bytes past the old end go first: a full disk shows up there, and failing
          // before the old bytes are touched leaves the chunk exactly as it was.
          try {
            const past = data.subarray(oldLength - offset);
            if (oldLength === 0 && past.length <= NEW_CHUNK_WRITE_NOW_BYTES) fh.writeNew(past, 0);
            else await writeFully(fh, past, oldLength);
          } catch (err) {
            await fh.truncate(oldLength).catch(() => undefined);
            throw err;
          }
        }
        // Failing here (rare: the blocks are already allocated) leaves old checksums over
        // partly new bytes, so reads of those blocks fail ECORRUPT rather than lie.
        if (offset < oldLength) await writeFully(fh, data.subarray(0, Math.min(end, oldLength) - offset), offset);
        const crcs = checksumsAfterWrite(chunk.crcs, oldLength, offset, data, (b) => edges.get(b)!);
        const updated: ChunkMeta = { ...chunk, length: newLength, crcs };
        this.chunks.set(id, updated);
        this.used += growth;
        this.metrics?.written(data.length);
        return this.info(updated);
      });
    } catch (err) {
      throw toChunkError(err, `chunk ${id}: write of ${data.length} bytes at offset ${offset}`);
    } finally {
      this.reserved -= growth;
    }
  }

  /**
   * Makes every write made so far durable: the data, then the meta that
   * vouches for it. Syncs asked for while one runs share the next one.
   */
  async sync(id: string): Promise<ChunkInfo> {
    assertChunkId(id);
    return this.metaOrder.sync(id, async () => {
      const chunk = this.require(id);
      const started = performance.now();
      await this.persist(chunk, 'sync');
      this.metrics?.synced((performance.now() - started) / 1000);
      return this.info(chunk);
    });
  }

  async setVersion(id: string, version: number): Promise<ChunkInfo> {
    assertChunkId(id);
    assertVersion(id, version);
    return this.metaOrder.run(id, () => this.setVersionNow(id, version));
  }

  private async setVersionNow(id: string, version: number): Promise<ChunkInfo> {
    const chunk = this.require(id);
    // A version that went down would let a stale replica pass for current (GFS §4.5).
    if (version < chunk.version) {
      throw new OfsError('EINVAL', `chunk ${id}: refusing to lower its version from ${chunk.version} to ${version}`);
    }
    const updated: ChunkMeta = { ...chunk, version };
    await this.persist(updated, `set version ${chunk.version} -> ${version}`);
    this.chunks.set(id, updated);
    return this.info(updated);
  }

  /**
   * Reads bytes of a chunk, every block they touch checked against its CRC32C (ECORRUPT if one fails).
   * With `lent`, the bytes are in memory of `readBuffers`, reused once the returned Buffer is
   * garbage: for bytes sent on and dropped (a chunk.read reply); keep no other view of them.
   */
  async read(id: string, offset: number, length: number, options: { lent?: boolean } = {}): Promise<Buffer> {
    try {
      const bytes = await this.readChecked(id, offset, length, options.lent ? this.readBuffers : undefined);
      this.metrics?.read(bytes.length);
      return bytes;
    } catch (err) {
      if ((err as OfsError).code === 'ECORRUPT') this.metrics?.corrupt('read', 1);
      throw err;
    }
  }

  /** The blocks of a chunk that fail their CRC32C or cannot be read. */
  async verify(id: string): Promise<number[]> {
    const corrupt = await this.verifyBlocks(id);
    if (corrupt.length > 0) this.metrics?.corrupt('verify', corrupt.length);
    return corrupt;
  }

  private async readChecked(id: string, offset: number, length: number, buffers?: ReadBuffers): Promise<Buffer> {
    const chunk = this.require(id);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > chunk.length) {
      throw new OfsError('EINVAL', `chunk ${id}: read at offset ${offset} is outside [0, ${chunk.length}]`);
    }
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new OfsError('EINVAL', `chunk ${id}: read at offset ${offset} of length ${length}: length is not a non-negative integer`);
    }
    const end = Math.min(offset + length, chunk.length);
    if (end === offset) return Buffer.alloc(0);

    // Read whole blocks, so each can be checked; at most the two edge blocks are extra.
    const { first, last } = blocksCovering(offset, end);
    const start = first * BLOCK_SIZE;
    const stop = blockBounds(last, chunk.length).end;
    const memory = buffers?.take(stop - start);
    const buf = memory ? Buffer.from(memory, 0, stop - start) : Buffer.allocUnsafe(stop - start);
    const got = await this.readRange(chunk, buf, start, `read of ${length} bytes at offset ${offset}`);
    for (let b = first; b <= last; b++) {
      const bounds = blockBounds(b, chunk.length);
      const bytes = buf.subarray(bounds.start - start, bounds.end - start);
      if (bounds.end - start > got) throw corruptBlock(chunk, b, `the data file ends at byte ${start + got}`);
      if (crc32c(bytes) !== chunk.crcs[b]) throw corruptBlock(chunk, b);
    }
    // Lent memory leaves as one view only, whose collection gives the memory back.
    return memory ? buffers!.lend(memory, offset - start, end - offset) : buf.subarray(offset - start, end - start);
  }

  private async verifyBlocks(id: string): Promise<number[]> {
    const chunk = this.require(id);
    const corrupt: number[] = [];
    const n = blockCount(chunk.length);
    let file: ChunkFile;
    try {
      file = ChunkFile.open(this.paths(id).data, 'r');
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw toChunkError(err, `chunk ${id}: verify, offset 0`);
      return Array.from({ length: n }, (_, b) => b);
    }
    try {
      const buf = Buffer.allocUnsafe(BLOCK_SIZE);
      for (let b = 0; b < n; b++) {
        const { start, end } = blockBounds(b, chunk.length);
        const bytes = buf.subarray(0, end - start);
        let got: number;
        try {
          got = await readFully(file, bytes, start);
        } catch (err) {
          if (errnoOf(err) !== 'EIO') throw err;
          got = -1;
        }
        if (got !== bytes.length || crc32c(bytes) !== chunk.crcs[b]) corrupt.push(b);
      }
    } catch (err) {
      throw toChunkError(err, `chunk ${id}: verify`);
    } finally {
      file.close();
    }
    return corrupt;
  }

  async delete(id: string): Promise<void> {
    assertChunkId(id);
    return this.metaOrder.run(id, () => this.deleteNow(id));
  }

  private async deleteNow(id: string): Promise<void> {
    const paths = this.paths(id);
    try {
      // Meta first: a crash half way leaves an orphan data file, which open() reports
      // as damaged, never a meta that claims bytes that are gone. The deletion is not
      // fsynced: a chunk that comes back after a crash is garbage the master collects (GFS §4.4).
      // Files being made now (a sync beside a write) are made before they go.
      await this.making.get(id)?.catch(() => undefined);
      this.openFiles.close(paths.meta);
      await unlinkIfPresent(paths.meta);
      this.openFiles.close(paths.data);
      this.unmade.delete(id);
      this.newestSlots.delete(id);
      this.namesPending.delete(id);
      const chunk = this.chunks.get(id);
      if (chunk) {
        this.chunks.delete(id);
        this.synced.delete(id);
        this.used -= chunk.length;
      }
      await unlinkIfPresent(paths.data);
      await unlinkIfPresent(paths.metaTemp);
    } catch (err) {
      throw toChunkError(err, `chunk ${id}: delete`);
    }
    this.forgetDamaged(id);
  }

  /** Waits for the meta writes asked for, then closes the files kept open and the directory; the store is not used after this. */
  async close(): Promise<void> {
    this.closing = true;
    await this.metaOrder.idle();
    // Files still being made would open after the close below, and stay open.
    await Promise.all([...this.making.values()].map((making) => making.catch(() => undefined)));
    this.openFiles.closeAll();
    await this.directory.close();
    this.readBuffers.trim();
  }

  dataPath(id: string): string {
    assertChunkId(id);
    return this.paths(id).data;
  }

  private info(meta: ChunkMeta): ChunkInfo {
    return { id: meta.id, version: meta.version, length: meta.length, syncedLength: this.synced.get(meta.id) ?? 0 };
  }

  private paths(id: string): ChunkPaths {
    return chunkPaths(this.chunksDir, id);
  }

  private require(id: string): ChunkMeta {
    assertChunkId(id);
    const chunk = this.chunks.get(id);
    if (!chunk) throw new OfsError('ENOENT', `chunk ${id} not found on this chunkserver`);
    return chunk;
  }

  private forgetDamaged(id: string): void {
    const i = this.damaged.indexOf(id);
    if (i >= 0) this.damaged.splice(i, 1);
  }

  /**
   * Data first, then meta: a durable meta must never vouch for bytes still
   * only in the page cache. Except while nothing of the chunk is durable yet
   * (`metaWaitsForData`): then both syncs run at once, a round less for every
   * new chunk (a small file's only commit).
   */
  private async persist(meta: ChunkMeta, what: string): Promise<void> {
    const paths = await this.filesOf(meta.id);
    try {
      // The names' fsync beside the data's: both must be done before the meta vouches for anything, in either order.
      const names = this.namesPending.has(meta.id) ? this.directorySync.sync() : undefined;
      const data = Promise.all([this.openFiles.use(paths.data, (fh) => fh.datasync()), names]);
      if (metaWaitsForData(this.synced.get(meta.id) ?? 0)) {
        await data;
        await this.writeMeta(paths, meta);
      } else {
        // Both settled before the next meta write may start (a rejection of one must not leave the other running).
        const [dataSynced, metaWritten] = await Promise.allSettled([data, this.writeMeta(paths, meta)]);
        if (dataSynced.status === 'rejected') throw dataSynced.reason;
        if (metaWritten.status === 'rejected') throw metaWritten.reason;
      }
      if (names) this.namesPending.delete(meta.id);
      this.synced.set(meta.id, meta.length);
    } catch (err) {
      throw toChunkError(err, `chunk ${meta.id}: ${what} (length ${meta.length})`);
    }
  }

  /**
   * Into the meta file's other slot, in place; the whole file is rewritten
   * only for a format-1 file, or a meta grown past the file's stride (the
   * maximum chunk size was raised since the file was made).
   */
  private async writeMeta(paths: ChunkPaths, meta: ChunkMeta): Promise<void> {
    const newest = this.newestSlots.get(meta.id);
    if (newest && fitsSlot(meta, newest.stride)) {
      // Files this store made and has not synced yet: the meta file holds its first slot, the other a hole
      // (or what a failed sync just wrote there, still in the page cache).
      const intoHole = this.namesPending.has(meta.id) && newest.generation === firstSlot(newest.stride).generation;
      this.newestSlots.set(meta.id, await this.openFiles.use(paths.meta, (file) => writeMetaSlot(file, newest, meta, intoHole)));
      return;
    }
    this.openFiles.close(paths.meta);
    this.newestSlots.set(meta.id, await rewriteMetaFile(paths, meta, slotStrideFor(Math.max(this.maxChunkSize, meta.length))));
  }

  /** Reads chunk bytes from `position` into `buf`; a missing data file or an EIO is corruption of the first block. */
  private async readRange(chunk: ChunkMeta, buf: Buffer, position: number, what: string): Promise<number> {
    const block = Math.floor(position / BLOCK_SIZE);
    let file: ChunkFile;
    try {
      file = ChunkFile.open(this.paths(chunk.id).data, 'r');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw corruptBlock(chunk, block, 'the data file is missing');
      throw toChunkError(err, `chunk ${chunk.id}: ${what}`);
    }
    try {
      return await readFully(file, buf, position);
    } catch (err) {
      throw toChunkError(err, `chunk ${chunk.id}: ${what}`);
    } finally {
      file.close();
    }
  }
}



/**
 * Whether a chunk's meta must wait for its data's sync, given the length
 * synced so far. A meta that lands first and then loses its data to a power
 * cut vouches for bytes that fail their checksums, and a replica that fails
 * them is dropped whole, with what was durable before: so a chunk with
 * durable bytes writes its meta after them. A chunk with none (just made)
 * holds nothing acknowledged that its loss could take; that sync's ack waits
 * for both anyway.
 */
export function metaWaitsForData(syncedLength: number): boolean {
  return syncedLength > 0;
}

function assertVersion(id: string, version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new OfsError('EINVAL', `chunk ${id}: version ${version} is not a non-negative integer`);
  }
}

function corruptBlock(chunk: ChunkMeta, block: number, detail?: string): OfsError {
  const { start, end } = blockBounds(block, chunk.length);
  const suffix = detail ? `: ${detail}` : '';
  return new OfsError(
    'ECORRUPT',
    `chunk ${chunk.id} block ${block} (bytes ${start}-${end - 1}) fails its CRC32C check${suffix}`,
  );
}

/** Reads block `block` whole and checks it against its recorded CRC32C. */
async function readVerifiedBlock(fh: ChunkFile, chunk: ChunkMeta, block: number): Promise<Buffer> {
  const { start, end } = blockBounds(block, chunk.length);
  const bytes = Buffer.alloc(end - start);
  const got = await readFully(fh, bytes, start);
  if (got !== bytes.length) throw corruptBlock(chunk, block, `the data file ends at byte ${start + got}`);
  if (crc32c(bytes) !== chunk.crcs[block]) throw corruptBlock(chunk, block);
  return bytes;
}

/**
 * Loads one chunk's meta at start-up, or returns undefined if the chunk cannot
 * be trusted: any failure here (torn meta, missing data, a disk error) costs one
 * replica, which the master re-creates elsewhere, never the whole chunkserver.
 * Data past the meta's length is the tail of a write that never reached sync();
 * it is cut so the file holds only what the meta vouches for.
 */
async function loadChunk(paths: ChunkPaths, id: string, hasMeta: boolean): Promise<DecodedMetaFile | undefined> {
  // Data without meta: a create that crashed before its meta was durable, or a lost meta.
  if (!hasMeta) return undefined;
  try {
    const loaded = await readMetaFile(paths.meta, id);
    const { size } = await fs.stat(paths.data);
    // The newer slot holds bytes but no valid meta, and the data reaches past the older one: a torn
    // update, never acknowledged, or a flipped bit in one that was, whose bytes this replica would
    // then lack at its current version (readers and copies would take the tail for zeros, a
    // mutation would write over it). The two look alike: the replica is damaged, files kept as they
    // are, and the master copies the chunk from another.
    if (loaded.otherSlotBad && size > loaded.meta.length) return undefined;
    if (size > loaded.meta.length) await fs.truncate(paths.data, loaded.meta.length);
    return loaded;
  } catch {
    return undefined;
  }
}
