interface Queue<S> {
  /** Settles when the last operation asked for so far has; never rejects. */
  tail: Promise<void>;
  pending: number;
  /** A sync asked for that has not started yet: callers asking now share it. */
  waitingSync?: Promise<S>;
}

/**
 * Runs the operations that write each chunk's meta file (syncs, new
 * versions, creates, deletes) one after another, in the order they were
 * asked for, whoever asks and whenever: two never write one meta file at
 * once, and an older state never lands after a newer one. A sync asked for
 * while another sync of the chunk waits to start shares it (group commit):
 * it starts later, so it covers every write made before either was asked.
 */
export class MetaOrder<S> {
  private readonly queues = new Map<string, Queue<S>>();

  run<T>(id: string, op: () => Promise<T>): Promise<T> {
    let queue = this.queues.get(id);
    if (!queue) this.queues.set(id, (queue = { tail: Promise.resolve(), pending: 0 }));
    const mine = queue;
    mine.pending++;
    const result = mine.tail.then(op);
    mine.tail = result.then(
      () => this.done(id, mine),
      () => this.done(id, mine),
    );
    return result;
  }

  sync(id: string, op: () => Promise<S>): Promise<S> {
    const waiting = this.queues.get(id)?.waitingSync;
    if (waiting) return waiting;
    const sync: Promise<S> = this.run(id, () => {
      // Started: writes made from now on need the next sync.
      const queue = this.queues.get(id);
      if (queue?.waitingSync === sync) queue.waitingSync = undefined;
      return op();
    });
    this.queues.get(id)!.waitingSync = sync;
    return sync;
  }

  /** Settles once every operation asked for so far has. */
  async idle(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.tail));
  }

  private done(id: string, queue: Queue<S>): void {
    if (--queue.pending === 0 && this.queues.get(id) === queue) this.queues.delete(id);
  }
}
