/**
 * At most `perSecond` log lines of one kind a second. A line per bad request
 * let any peer write to the server's disk as fast as it could send (250
 * bytes a line, thousands of lines a second); past the limit, lines are
 * counted instead, and the next line that goes says how many were not.
 */
export class LogLimiter {
  private windowStart = -Infinity;
  private inWindow = 0;
  private skipped = 0;

  constructor(private readonly perSecond: number) {}

  /** Calls `write` with the number of lines skipped since the last one written, unless this second's lines are used up. */
  log(now: number, write: (skipped: number) => void): void {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.skipped++;
      return;
    }
    this.inWindow++;
    const skipped = this.skipped;
    this.skipped = 0;
    write(skipped);
  }
}
