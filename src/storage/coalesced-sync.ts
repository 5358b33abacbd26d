/**
 * Shares one run of a sync among everyone who asks for it at about the same
 * time (group commit). A caller must be covered by a run that started after
 * it asked: a run already under way may have begun before the caller's
 * change, so the caller waits for the next one, which every caller arriving
 * meanwhile shares.
 */
export class CoalescedSync {
  private running?: Promise<void>;
  private next?: Promise<void>;

  constructor(private readonly run: () => Promise<void>) {}

  sync(): Promise<void> {
    if (!this.running) return this.start();
    this.next ??= this.running.then(
      () => this.startNext(),
      () => this.startNext(),
    );
    return this.next;
  }

  private startNext(): Promise<void> {
    this.next = undefined;
    return this.start();
  }

  private start(): Promise<void> {
    const run = this.run();
    this.running = run;
    const done = () => {
      if (this.running === run) this.running = undefined;
    };
    run.then(done, done);
    return run;
  }
}
