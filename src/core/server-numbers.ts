/**
 * Chunkserver ids as small numbers (1 to 65,535), so a replica's location
 * takes two bytes in a typed array instead of a reference to a string. A
 * number is held while any replica refers to it and given out again once none
 * does: a cluster that replaces its chunkservers over the years does not run
 * out, only one with more than 65,535 servers holding replicas at once would
 * (and `hold` then says so, for the caller to keep that replica another way).
 */
export const NO_SERVER = 0;
const MAX_NUMBER = 0xffff;

export class ServerNumbers {
  private readonly numbers = new Map<string, number>();
  /** number → server id, and how many replicas refer to it; index 0 (NO_SERVER) unused. */
  private readonly ids: (string | undefined)[] = [undefined];
  private readonly references: number[] = [0];
  private readonly unused: number[] = [];

  /** The server's number if it has one, else NO_SERVER. */
  numberOf(serverId: string): number {
    return this.numbers.get(serverId) ?? NO_SERVER;
  }

  /** A new replica refers to the server: its number, given one if it had none; NO_SERVER when all are in use. */
  hold(serverId: string): number {
    let n = this.numbers.get(serverId);
    if (n === undefined) {
      n = this.unused.pop() ?? (this.ids.length <= MAX_NUMBER ? this.ids.length : NO_SERVER);
      if (n === NO_SERVER) return NO_SERVER;
      this.numbers.set(serverId, n);
      this.ids[n] = serverId;
      this.references[n] = 0;
    }
    this.references[n]!++;
    return n;
  }

  idOf(n: number): string {
    const id = this.ids[n];
    if (id === undefined) throw new Error(`invariant broken: server number ${n} is stored but belongs to no server`);
    return id;
  }

  /** A replica no longer refers to `n`: the last one lets the number go. */
  release(n: number): void {
    if (--this.references[n]! > 0) return;
    this.numbers.delete(this.idOf(n));
    this.ids[n] = undefined;
    this.unused.push(n);
  }
}
