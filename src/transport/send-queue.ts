import { joinMessages, MAX_BATCH, MAX_FRAMES_PER_ENVELOPE } from './batch.js';

/** Bytes one batch carries at most: a large message (a chunk piece) goes alone, and small ones do not wait behind a queue of them. */
const MAX_BATCH_BYTES = 1024 * 1024;

interface Waiting {
  message: Buffer[];
  /** A ROUTER's peer identity; none for a DEALER. */
  to: Buffer | undefined;
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The sends of one socket. zeromq.js v6 allows one send in progress per
 * socket, and callers from many async paths share it; so their messages
 * wait here, in call order, and everything that waits for the same peer when
 * the socket is free goes as one batch (batch.ts): under load, many calls or
 * replies cost one send. Nothing waits on purpose: a lone message goes as
 * soon as the socket is free.
 */
export class SendQueue {
  private waiting: Waiting[] = [];
  private flushing = false;

  constructor(private readonly send: (frames: Buffer[]) => Promise<void>) {}

  /** Sends one envelope's frames (to peer `to` of a ROUTER); resolves once ZeroMQ has taken them. */
  enqueue(message: Buffer[], to?: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // A message with more frames than a batch may hold counts as too large to share one.
      const bytes = message.length > MAX_FRAMES_PER_ENVELOPE ? Infinity : message.reduce((sum, frame) => sum + frame.length, 0);
      this.waiting.push({ message, to, bytes, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    // Messages queued by the rest of this turn go with the first.
    await Promise.resolve();
    while (this.waiting.length > 0) {
      for (const group of byPeer(this.take())) {
        const frames = joinMessages(group.map((w) => w.message));
        const { to } = group[0]!;
        try {
          await this.send(to ? [to, ...frames] : frames);
          for (const w of group) w.resolve();
        } catch (err) {
          // A failed send fails its own batch only: the ones after it are tried.
          for (const w of group) w.reject(err);
        }
      }
    }
    this.flushing = false;
  }

  /** The oldest waiting messages that fit one batch (always at least one). */
  private take(): Waiting[] {
    let count = 0;
    let bytes = 0;
    while (count < this.waiting.length && count < MAX_BATCH && (count === 0 || bytes + this.waiting[count]!.bytes <= MAX_BATCH_BYTES)) {
      bytes += this.waiting[count]!.bytes;
      count++;
    }
    return this.waiting.splice(0, count);
  }
}

/** `waiting` split by peer, each peer's messages in their order. */
function byPeer(waiting: Waiting[]): Waiting[][] {
  const groups = new Map<string, Waiting[]>();
  for (const w of waiting) {
    const key = w.to?.toString('latin1') ?? '';
    const group = groups.get(key);
    if (group) group.push(w);
    else groups.set(key, [w]);
  }
  return [...groups.values()];
}
