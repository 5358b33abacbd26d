import { OfsError } from '../../core/errors.js';
import { REPORT_PART_CHUNKS, type RequestOf } from '../../transport/protocol.js';

/** What the master's grant fixes for the life of a lease: its length, the secondaries, the chunk size. */
export type LeaseTerms = NonNullable<RequestOf<'chunk.setVersion'>['lease']>;

/**
 * The leases a chunkserver holds as primary. It trusts a lease for less time
 * than the master granted (SAFETY), so that it stops ordering mutations before
 * the master could hand the chunk to another primary.
 */
const SAFETY_FRACTION = 0.1;
const MIN_SAFETY_MS = 200;

/**
 * A lease, with the replica set and chunk size the master granted it with: a
 * primary never takes them from a client, which could name fewer replicas and
 * leave the chunk's replicas at one version with different bytes. An extension
 * keeps them; a new replica set comes only with a new lease (a new version).
 */
export interface HeldLease extends LeaseTerms {
  version: number;
  expiresAt: number;
  lastUsed: number;
  /** Where this primary's acknowledged record appends reach in the chunk (0: none yet). */
  appendedTo: number;
}

export class HeldLeases {
  private readonly leases = new Map<string, HeldLease>();

  /** `grantedAt` is when the request left the master or reached us: whichever is earlier is safer. */
  grant(chunkId: string, version: number, terms: LeaseTerms, grantedAt: number): void {
    this.leases.set(chunkId, { ...terms, version, expiresAt: grantedAt + trusted(terms.leaseMs), lastUsed: grantedAt, appendedTo: 0 });
  }

  extend(chunkId: string, version: number, leaseMs: number, requestedAt: number): void {
    const lease = this.leases.get(chunkId);
    if (lease && lease.version === version) lease.expiresAt = requestedAt + trusted(leaseMs);
  }

  revoke(chunkId: string): void {
    this.leases.delete(chunkId);
  }

  /** The lease under which this server may order mutations of `chunkId` at `version` now; else ELEASE. */
  check(chunkId: string, version: number, now: number): HeldLease {
    const lease = this.leases.get(chunkId);
    if (!lease || lease.version !== version) {
      throw new OfsError('ELEASE', `this chunkserver holds no lease on chunk ${chunkId} at version ${version}`);
    }
    if (lease.expiresAt <= now) throw new OfsError('ELEASE', `the lease on chunk ${chunkId} expired ${now - lease.expiresAt} ms ago`);
    lease.lastUsed = now;
    return lease;
  }

  /** A record append (or the padding of the chunk) at `version` is on every replica and acknowledged up to `end`. */
  appended(chunkId: string, version: number, end: number): void {
    const lease = this.leases.get(chunkId);
    if (lease?.version === version) lease.appendedTo = Math.max(lease.appendedTo, end);
  }

  /**
   * Leases in use lately: the ones to ask the master to extend in the next
   * heartbeat, each with where acknowledged appends reach (the file's size
   * follows from it: GFS 3.3).
   */
  wanted(now: number): { chunkId: string; version: number; length: number }[] {
    const used: [string, HeldLease][] = [];
    for (const [chunkId, lease] of this.leases) {
      if (lease.expiresAt <= now) this.leases.delete(chunkId);
      else if (now - lease.lastUsed < lease.leaseMs) used.push([chunkId, lease]);
    }
    // At most one message's worth, the most recently used: the others (a burst of small files, each
    // written once) expire, and a mutation that comes later asks for a new lease.
    if (used.length > REPORT_PART_CHUNKS) used.sort(([, a], [, b]) => b.lastUsed - a.lastUsed).length = REPORT_PART_CHUNKS;
    return used.map(([chunkId, lease]) => ({ chunkId, version: lease.version, length: lease.appendedTo }));
  }
}

function trusted(leaseMs: number): number {
  return leaseMs - Math.max(MIN_SAFETY_MS, leaseMs * SAFETY_FRACTION);
}
