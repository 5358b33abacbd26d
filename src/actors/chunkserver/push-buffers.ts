import { OfsError } from '../../core/errors.js';

/**
 * Bytes pushed ahead of a mutation (GFS 3.2), kept in memory under the id the
 * client chose until the primary orders them applied. Bounded in total, and a
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

  put(bufferId: string, data: Buffer, now: number): void {
    this.expire(now);
    this.remove(bufferId);
    if (this.bytes + data.length > this.maxBytes) {
      throw new OfsError('ENOSPC', `push buffers full: ${this.bytes} of ${this.maxBytes} bytes await commits; retry shortly`);
    }
    this.buffers.set(bufferId, { data, expiresAt: now + this.ttlMs });
    this.bytes += data.length;
  }

  /** The pushed bytes; they stay until `release` (a retried commit may need them again) or expiry. */
  get(bufferId: string, length: number): Buffer {
    const entry = this.buffers.get(bufferId);
    if (!entry) throw new OfsError('EUNAVAILABLE', `no pushed data under buffer ${bufferId} here (never arrived, or expired): push again`);
    if (entry.data.length !== length) {
      throw new OfsError('EINVAL', `buffer ${bufferId} holds ${entry.data.length} bytes, the mutation names ${length}`);
    }
    return entry.data;
  }

  release(bufferId: string): void {
    this.remove(bufferId);
  }

  private remove(bufferId: string): void {
    const entry = this.buffers.get(bufferId);
    if (!entry) return;
    this.buffers.delete(bufferId);
    this.bytes -= entry.data.length;
  }

  private expire(now: number): void {
    for (const [id, entry] of this.buffers) if (entry.expiresAt <= now) this.remove(id);
  }
}
