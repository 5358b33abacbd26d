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
    let at = 0;
    while (at < data.length) {
      if (!this.chunk || this.offsetInChunk === this.chunkSize) await this.nextChunk();
      const take = Math.min(PIECE_BYTES, this.chunkSize - this.offsetInChunk, data.length - at);
      await this.sendPiece(data.subarray(at, at + take));
      at += take;
    }
  }

  /** Seals the last chunk and records the file's size: the file is complete when this resolves. */
  async close(): Promise<number> {
    await this.sealChunk();
    await this.master.call('master.complete', { path: this.path, size: this.size });
    return this.size;
  }

  private async nextChunk(): Promise<void> {
    await this.sealChunk();
    this.chunk = await this.master.call('master.allocateChunk', { path: this.path, index: this.chunkIndex });
    this.chunkIndex++;
    this.offsetInChunk = 0;
  }

  private async sendPiece(piece: Buffer): Promise<void> {
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
