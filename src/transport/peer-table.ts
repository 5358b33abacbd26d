/**
 * The peers a server answers, by ZeroMQ routing id. A ROUTER takes any number
 * of connections (ZeroMQ has no per-socket cap), and each peer costs the
 * server a connection, a queue and handlers at work: so a server counts the
 * peers it heard from lately itself and turns a new one away past its cap.
 * A peer silent for `idleMs` no longer counts; a reconnecting DEALER gets a
 * new routing id, so its old one goes that way too.
 */
export class PeerTable {
  /** Routing id → when it last sent, oldest first (a message moves its peer to the end). */
  private readonly lastSeen = new Map<string, number>();

  constructor(
    readonly maxPeers: number,
    readonly idleMs: number,
  ) {}

  get size(): number {
    return this.lastSeen.size;
  }

  /** True if the peer may be served: it is known, or there is room for it. Counts it as seen `now`. */
  admit(identity: Buffer, now: number): boolean {
    for (const [peer, at] of this.lastSeen) {
      if (now - at < this.idleMs) break;
      this.lastSeen.delete(peer);
    }
    const peer = identity.toString('latin1');
    const known = this.lastSeen.delete(peer);
    if (!known && this.lastSeen.size >= this.maxPeers) return false;
    this.lastSeen.set(peer, now);
    return true;
  }
}
