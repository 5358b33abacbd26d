/**
 * Buffers for chunk reads that are sent on and then dropped, reused instead
 * of allocated fresh for every read.
 *
 * Why: a chunkserver serving a reader allocated a new 2 MiB buffer for every
 * piece. Each one is memory outside the JavaScript heap that V8 can only
 * free with a full mark-compact, and enough of them start one: a chunkserver
 * read at full speed spent about 40% of its CPU in the garbage collector
 * (perf of one client reading 256 MiB: marking and sweeping a 13 MB heap
 * every ~20 MiB served). Reusing the memory takes most of those collections away.
 *
 * When may the memory be reused? ZeroMQ sends a buffer without copying it:
 * the socket holds the Buffer object handed to it until its I/O thread has
 * written the bytes, and nothing tells JavaScript when that is. So a buffer
 * is lent as one Buffer object, and its memory comes back only once that
 * object has been garbage collected (a FinalizationRegistry): by then no
 * socket, batch or caller can reach it. Never sooner; and if the registry
 * never calls back, the pool simply stays empty and reads allocate as before.
 *
 * The price is memory: lent memory waits for a collection to come back and
 * collections are rarer, so a chunkserver holds more for a while after a burst
 * of reads (chunkserver RSS after a 256 MiB read: ~+50 MiB with 32 MiB kept free,
 * ~+90 MiB with 64 MiB).
 *
 * The rule for a borrower: keep the Buffer `lend` returned for as long as its
 * bytes are used, and make no other view of its memory (`subarray`,
 * `.buffer`) that outlives it. A chunk read's bytes go straight into a reply
 * frame, so that holds on the read path.
 */

/** The smallest size class: one checksum block. */
const MIN_CLASS = 64 * 1024;

export interface ReadBufferOptions {
  /** Reads above this many bytes are not pooled (allocated as before). */
  maxBytes?: number;
  /** Bytes kept on the free lists at most; memory returned beyond this is left to the collector. */
  maxFreeBytes?: number;
  /**
   * The free lists are let go once no read has taken from them for this long
   * (1 to 1.5 times it): a server whose reads stopped holds none, for the writes that may come next.
   */
  idleMs?: number;
}

export class ReadBuffers {
  readonly maxBytes: number;
  readonly maxFreeBytes: number;
  readonly idleMs: number;
  /** Free memory by size class (a power of two). */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  private lastTake = 0;
  /** Runs while the free lists hold memory, to let it go when reads stop. */
  private trimmer: NodeJS.Timeout | undefined;
  private readonly returned = new FinalizationRegistry<ArrayBuffer>((memory) => this.giveBack(memory));
  /** Counters, for tests and for a look at how well the pool does. */
  readonly stats = { reused: 0, allocated: 0, returned: 0, dropped: 0 };

  constructor(options: ReadBufferOptions = {}) {
    this.maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    this.maxFreeBytes = options.maxFreeBytes ?? 32 * 1024 * 1024;
    this.idleMs = options.idleMs ?? 2_000;
  }

  /**
   * Memory for `size` bytes (at least), to read into; undefined when `size`
   * is not pooled. Make the one view of it to hand on with `lend`.
   */
  take(size: number): ArrayBuffer | undefined {
    if (size <= 0 || size > this.maxBytes) return undefined;
    this.lastTake = performance.now();
    const cls = sizeClass(size);
    const memory = this.free.get(cls)?.pop();
    if (memory) {
      this.freeBytes -= memory.byteLength;
      this.stats.reused++;
      return memory;
    }
    this.stats.allocated++;
    // Uninitialised, as Buffer.allocUnsafe: every byte handed on is read into first.
    return Buffer.allocUnsafeSlow(cls).buffer as ArrayBuffer;
  }

  /**
   * The Buffer over `length` bytes of `memory` from `offset`: the only view
   * to hand on. The memory returns to the pool once that Buffer is garbage.
   */
  lend(memory: ArrayBuffer, offset: number, length: number): Buffer {
    const view = Buffer.from(memory, offset, length);
    this.returned.register(view, memory);
    return view;
  }

  /** Bytes on the free lists now. */
  get idleBytes(): number {
    return this.freeBytes;
  }

  private giveBack(memory: ArrayBuffer): void {
    this.stats.returned++;
    if (this.freeBytes + memory.byteLength > this.maxFreeBytes) {
      this.stats.dropped++;
      return;
    }
    const list = this.free.get(memory.byteLength);
    if (list) list.push(memory);
    else this.free.set(memory.byteLength, [memory]);
    this.freeBytes += memory.byteLength;
    this.trimmer ??= setInterval(() => {
      if (performance.now() - this.lastTake >= this.idleMs) this.trim();
    }, this.idleMs / 2).unref();
  }

  /** Lets the free memory go (to the collector); the pool fills again as reads come. */
  trim(): void {
    this.free.clear();
    this.freeBytes = 0;
    clearInterval(this.trimmer);
    this.trimmer = undefined;
  }
}

function sizeClass(size: number): number {
  let cls = MIN_CLASS;
  while (cls < size) cls *= 2;
  return cls;
}
