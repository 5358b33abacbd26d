import { OfsError } from '../../core/errors.js';

/**
 * Bytes pushed ahead of a mutation (GFS 3.2), kept in memory under the chunk
 * and the id the client chose until the primary orders them applied. Keyed
 * by the chunk too: a push may be made only with a token for its chunk, and
 * a buffer id seen on the wire must not let bytes for one chunk be committed
 * into another. Bounded in total, and a
 * buffer nobody committed expires: a client that died mid-mutation must not
 * pin memory forever.
 */
export class PushBuffers {
  private readonly buffers = new Map<string, { data: Buffer; expiresAt: number }>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly ttlMs: number,
  ) {}

  /** Bytes held now, awaiting their commits. */
  get heldBytes(): number {
    return this.bytes;
  }

  put(chunkId: string, bufferId: string, data: Buffer, now: number): void {
    this.expire(now);
    const key = keyOf(chunkId, bufferId);
    this.remove(key);
    if (this.bytes + data.length > this.maxBytes) {
      throw new OfsError('ENOSPC', `push buffers full: ${this.bytes} of ${this.maxBytes} bytes await commits; retry shortly`);
    }
    this.buffers.set(key, { data, expiresAt: now + this.ttlMs });
    this.bytes += data.length;
  }

  /** The pushed bytes; they stay until `release` (a retried commit may need them again) or expiry. */
  get(chunkId: string, bufferId: string, length: number): Buffer {
    const entry = this.buffers.get(keyOf(chunkId, bufferId));
    if (!entry) throw new OfsError('EUNAVAILABLE', `no pushed data for chunk ${chunkId} under buffer ${bufferId} here (never arrived, or expired): push again`);
    if (entry.data.length !== length) {
      throw new OfsError('EINVAL', `buffer ${bufferId} holds ${entry.data.length} bytes, the mutation names ${length}`);
    }
    return entry.data;
  }

  release(chunkId: string, bufferId: string): void {
    this.remove(keyOf(chunkId, bufferId));
  }

  private remove(key: string): void {
    const entry = this.buffers.get(key);
    if (!entry) return;
    this.buffers.delete(key);
    this.bytes -= entry.data.length;
  }

  private expire(now: number): void {
    for (const [id, entry] of this.buffers) if (entry.expiresAt <= now) this.remove(id);
  }
}

const keyOf = (chunkId: string, bufferId: string) => `${chunkId}/${bufferId}`;
