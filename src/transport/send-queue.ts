/**
 * zeromq.js v6 allows one send in progress per socket; callers from many
 * async paths share a socket, so their sends are chained here in call order.
 */
export class SendQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly send: (frames: Buffer[]) => Promise<void>) {}

  enqueue(frames: Buffer[]): Promise<void> {
    const sent = this.tail.then(() => this.send(frames));
    // A failed send must not poison the sends queued after it.
    this.tail = sent.catch(() => undefined);
    return sent;
  }
}
