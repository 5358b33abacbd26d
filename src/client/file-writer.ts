import { OfsError } from '../core/errors.js';
import { InFlightWindow } from './in-flight-window.js';
import type { ChunkMutator } from './chunk-mutator.js';
import type { MasterLink } from './master-link.js';

/** Bytes per mutation (and per read request): big enough to amortise the round trips and syncs, small enough to pipeline. */
export const PIECE_BYTES = 2 * 1024 * 1024;
/**
 * Mutations in flight at once. Measured on 2 cores: 4 MiB in flight wrote at
 * ~60 MiB/s, waiting on round trips; 16 MiB keeps every replica busy (~100).
 */
const WRITE_WINDOW = 8;

/**
 * Writes a byte range of a file front to back, as a series of chunk
 * mutations of up to one piece each (never crossing a chunk boundary), a few
 * in flight at a time. The master sees only lease requests and, at the end,
 * the file's new size; bytes go straight to the chunkservers. Memory held:
 * one piece being gathered plus the window in flight.
 */
export class FileWriter {
  private position: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly window = new InFlightWindow<unknown>(WRITE_WINDOW);

  constructor(
    private readonly master: MasterLink,
    private readonly mutator: ChunkMutator,
    readonly path: string,
    private readonly chunkSize: number,
    /** Where the first byte goes. */
    private readonly start = 0,
  ) {
    this.position = start;
  }

  /**
   * Makes (or truncates) `path` and returns a writer at offset 0. `lease`:
   * bytes will follow, so the master places the first chunk and grants its
   * lease in the same call.
   */
  static async create(master: MasterLink, mutator: ChunkMutator, path: string, options: { overwrite: boolean; lease: boolean; mode?: number }): Promise<FileWriter> {
    const asked = Date.now();
    const { chunkSize, lease } = await master.call('master.create', { path, ...options });
    if (lease) mutator.adopt(path, lease, asked);
    return new FileWriter(master, mutator, path, chunkSize);
  }

  /** Queues `data`; resolves once it is in flight (not yet applied: see `close`). */
  async write(data: Buffer): Promise<void> {
    // Small writes (a stream's 64 KiB reads) are gathered into whole pieces.
    this.pending.push(data);
    this.pendingBytes += data.length;
    while (this.pendingBytes >= this.nextPieceBytes()) await this.send(this.takePending(this.nextPieceBytes()));
  }

  /** Waits for every mutation, then records the file's new size: the bytes are readable when this resolves. */
  async close(): Promise<number> {
    while (this.pendingBytes > 0) await this.send(this.takePending(Math.min(this.pendingBytes, this.nextPieceBytes())));
    await this.window.drain();
    // Nothing written: the create already made the file empty (one master call for an empty file, not two).
    if (this.position > this.start) await this.master.call('master.extend', { path: this.path, size: this.position });
    return this.position - this.start;
  }

  /** A piece never crosses a chunk boundary: one piece, one chunk mutation. */
  private nextPieceBytes(): number {
    return Math.min(PIECE_BYTES, this.chunkSize - (this.position % this.chunkSize));
  }

  private takePending(bytes: number): Buffer {
    const joined = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const piece = joined.subarray(0, bytes);
    const rest = joined.subarray(bytes);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return piece;
  }

  private async send(piece: Buffer): Promise<void> {
    const index = Math.floor(this.position / this.chunkSize);
    const offset = this.position % this.chunkSize;
    this.position += piece.length;
    await this.window.push(() =>
      this.mutator.mutate(this.path, index, 'write', offset, piece).catch((err: OfsError) => {
        throw new OfsError(err.code, `writing ${this.path} at ${index * this.chunkSize + offset}: ${err.message}`);
      }),
    );
  }
}
