import { OfsError } from '../core/errors.js';
import type { ReplyOf } from '../transport/protocol.js';
import type { RpcClient } from '../transport/rpc-client.js';
import { InFlightWindow } from './in-flight-window.js';
import type { MasterLink } from './master-link.js';

/** Bytes per chunk.write message: big enough to amortise a round trip, small enough to pipeline. */
export const PIECE_BYTES = 1024 * 1024;
/** Pieces in flight along a replica chain at once. */
const WRITE_WINDOW = 4;
const CHUNK_CALL_TIMEOUT_MS = 60_000;

type Allocation = ReplyOf<'master.allocateChunk'>;

/**
 * Writes one file front to back: asks the master for a chunk at a time, and
 * pushes the bytes to the chunk's first replica, which forwards them along
 * the chain (GFS 3.2: data flow apart from control flow). The master never
 * sees a byte. Memory held: the window of pieces in flight.
 */
export class FileWriter {
  private chunk: Allocation | undefined;
  private chunkIndex = 0;
  private offsetInChunk = 0;
  private size = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly window = new InFlightWindow<unknown>(WRITE_WINDOW);

  private constructor(
    private readonly master: MasterLink,
    private readonly rpc: RpcClient,
    readonly path: string,
    private readonly chunkSize: number,
  ) {}

  static async create(master: MasterLink, rpc: RpcClient, path: string, overwrite: boolean): Promise<FileWriter> {
    const { chunkSize } = await master.call('master.create', { path, overwrite });
    return new FileWriter(master, rpc, path, chunkSize);
  }

  /** Queues `data`; resolves once it is in flight (not yet durable: see `close`). */
  async write(data: Buffer): Promise<void> {
    // Small writes (a stream's 64 KiB reads) are gathered into whole pieces:
    // one message per piece, not per caller's write.
    this.pending.push(data);
    this.pendingBytes += data.length;
    while (this.pendingBytes >= this.nextPieceBytes()) await this.sendPiece(this.takePending(this.nextPieceBytes()));
  }

  /** Seals the last chunk and records the file's size: the file is complete when this resolves. */
  async close(): Promise<number> {
    while (this.pendingBytes > 0) await this.sendPiece(this.takePending(Math.min(this.pendingBytes, this.nextPieceBytes())));
    await this.sealChunk();
    await this.master.call('master.complete', { path: this.path, size: this.size });
    return this.size;
  }

  /** Bytes the next piece may hold: a piece never crosses a chunk boundary. */
  private nextPieceBytes(): number {
    const roomInChunk = this.chunk ? this.chunkSize - this.offsetInChunk : this.chunkSize;
    return Math.min(PIECE_BYTES, roomInChunk === 0 ? this.chunkSize : roomInChunk);
  }

  private takePending(bytes: number): Buffer {
    const joined = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const piece = joined.subarray(0, bytes);
    const rest = joined.subarray(bytes);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return piece;
  }

  private async nextChunk(): Promise<void> {
    await this.sealChunk();
    this.chunk = await this.master.call('master.allocateChunk', { path: this.path, index: this.chunkIndex });
    this.chunkIndex++;
    this.offsetInChunk = 0;
  }

  private async sendPiece(piece: Buffer): Promise<void> {
    if (!this.chunk || this.offsetInChunk === this.chunkSize) await this.nextChunk();
    const chunk = this.chunk!;
    const [head, ...chain] = chunk.replicas.map((r) => r.address);
    const offset = this.offsetInChunk;
    this.offsetInChunk += piece.length;
    this.size += piece.length;
    await this.window.push(() =>
      this.rpc
        .call(head!, 'chunk.write', { chunkId: chunk.chunkId, version: chunk.version, offset, chain }, { data: [piece], timeoutMs: CHUNK_CALL_TIMEOUT_MS })
        .catch((err: OfsError) => {
          throw new OfsError(err.code, `writing ${this.path} chunk ${chunk.chunkId} at ${offset}: ${err.message}`);
        }),
    );
  }

  private async sealChunk(): Promise<void> {
    const chunk = this.chunk;
    if (!chunk) return;
    await this.window.drain();
    const [head, ...chain] = chunk.replicas.map((r) => r.address);
    await this.rpc
      .call(head!, 'chunk.seal', { chunkId: chunk.chunkId, version: chunk.version, length: this.offsetInChunk, chain }, { timeoutMs: CHUNK_CALL_TIMEOUT_MS })
      .catch((err: OfsError) => {
        throw new OfsError(err.code, `sealing ${this.path} chunk ${chunk.chunkId}: ${err.message}`);
      });
    this.chunk = undefined;
  }
}
