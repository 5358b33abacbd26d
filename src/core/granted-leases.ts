/**
 * The master's leases (GFS 3.1): at most one primary per chunk, for a
 * limited time. Soft state, like chunk locations: a new master learns nothing
 * of old leases, and that is safe because every new lease bumps the chunk
 * version, which fences off the old primary's mutations at the secondaries.
 */
export interface Lease {
  /** The file and chunk index it was granted for: a rename or delete revokes it, so these hold while it does. */
  path: string;
  index: number;
  chunkId: string;
  version: number;
  primary: { id: string; address: string };
  replicas: { id: string; address: string }[];
  /** Master clock; the primary's own expiry is earlier by a safety margin. */
  expiresAt: number;
}

export class LeaseTable {
  private readonly leases = new Map<string, Lease>();

  /** The lease on `chunkId` if one is still in force. */
  current(chunkId: string, now: number): Lease | undefined {
    const lease = this.leases.get(chunkId);
    if (lease && lease.expiresAt > now) return lease;
    this.leases.delete(chunkId);
    return undefined;
  }

  grant(lease: Lease, now: number): void {
    const existing = this.leases.get(lease.chunkId);
    if (existing && existing.expiresAt > now && existing.version >= lease.version) {
      throw new Error(`invariant broken: chunk ${lease.chunkId} would have two primaries (v${existing.version}, v${lease.version})`);
    }
    this.leases.set(lease.chunkId, lease);
  }

  /** Extends a lease its primary asked to keep; false if it is no longer that primary's. */
  extend(chunkId: string, version: number, primaryId: string, now: number, leaseMs: number): boolean {
    const lease = this.current(chunkId, now);
    if (!lease || lease.version !== version || lease.primary.id !== primaryId) return false;
    lease.expiresAt = now + leaseMs;
    return true;
  }

  revoke(chunkId: string): Lease | undefined {
    const lease = this.leases.get(chunkId);
    this.leases.delete(chunkId);
    return lease;
  }
}
