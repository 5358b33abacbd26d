import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { OfsError } from '../core/errors.js';
import type { ReplyOf } from '../transport/protocol.js';
import type { RpcClient } from '../transport/rpc-client.js';
import { timeLeft } from './deadline.js';
import type { MasterLink } from './master-link.js';

type Lease = ReplyOf<'master.lease'>;

export interface MutationResult {
  /** The chunk the mutation landed in (for an append, the one the primary took it into). */
  index: number;
  /** Offset within that chunk. */
  offset: number;
  /** An append that did not fit: the chunk was padded to its end and nothing was written. */
  padded: boolean;
  chunkSize: number;
}

const CHUNK_CALL_TIMEOUT_MS = 30_000;
/** A lease is asked for again after this share of its life, so a client never leans on an expired one. */
const LEASE_REUSE_FRACTION = 0.5;
/** Pause before asking again for a lease the master could not grant (usually one a dead primary still holds). */
const LEASE_RETRY_MS = 250;
/** Errors of the master that no retry can fix. */
const FINAL_MASTER_ERRORS = new Set<OfsError['code']>(['ENOENT', 'EISDIR', 'ENOTDIR', 'EINVAL', 'EBADMSG', 'ENOSPC']);

/**
 * One mutation of one chunk, done the GFS way (3.1): ask the master who holds
 * the lease; push the bytes along the chain of replicas; ask the primary to
 * commit, which it does only once every replica applied it. Any failure
 * retries the whole mutation; a failure at a replica first asks the master for
 * a new lease (a new version) on the replicas that still answer. Every wait
 * inside, for the master or a chunkserver, ends by the mutation's deadline.
 */
export class ChunkMutator {
  private readonly leases = new Map<string, { lease: Lease; reuseUntil: number }>();
  /** Mutations attempted again after a failure: each may have taken effect before (at least once). */
  retries = 0;

  constructor(
    private readonly master: MasterLink,
    private readonly rpc: RpcClient,
    private readonly retryForMs: number,
  ) {}

  async mutate(path: string, index: number | 'last', mode: 'write' | 'append', offset: number, data: Buffer): Promise<MutationResult> {
    let afterFailure = false;
    const started = Date.now();
    let deadline = started + this.retryForMs;
    let delay = 50;
    for (;;) {
      const lease = await this.lease(path, index, afterFailure, deadline);
      // A dead primary keeps its lease until it expires: be willing to wait that long (once, from the start).
      deadline = Math.max(deadline, started + lease.leaseMs + 5_000);
      try {
        return await this.attempt(lease, mode, offset, data, deadline);
      } catch (err) {
        this.leases.delete(`${path}#${index}`);
        const error = err as OfsError;
        // A full replica stays full however often we retry: say so now.
        if (error.code === 'ENOSPC' || Date.now() + delay > deadline) {
          throw new OfsError(error.code ?? 'EUNAVAILABLE', `${mode} of ${data.length} bytes to ${path} chunk ${lease.index} failed: ${error.message}`);
        }
        // ELEASE / ESTALE: the lease moved on (expired, revoked, re-granted); just ask again.
        afterFailure = error.code !== 'ELEASE' && error.code !== 'ESTALE';
        this.retries++;
        await sleep(delay);
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }

  private async attempt(lease: Lease, mode: 'write' | 'append', offset: number, data: Buffer, deadline: number): Promise<MutationResult> {
    const bufferId = randomBytes(12).toString('hex');
    const [head, ...chain] = lease.replicas.map((r) => r.address);
    const pushTimeoutMs = timeLeft(deadline, CHUNK_CALL_TIMEOUT_MS, `pushing chunk ${lease.chunkId}`);
    await this.rpc.call(head!, 'chunk.push', { bufferId, chain }, { data: [data], timeoutMs: pushTimeoutMs });
    const secondaries = lease.replicas.filter((r) => r.id !== lease.primary.id).map((r) => r.address);
    const { body } = await this.rpc.call(
      lease.primary.address,
      'chunk.commit',
      { chunkId: lease.chunkId, version: lease.version, bufferId, mode, offset, length: data.length, chunkSize: lease.chunkSize, secondaries },
      { timeoutMs: timeLeft(deadline, CHUNK_CALL_TIMEOUT_MS, `committing chunk ${lease.chunkId}`) },
    );
    return { index: lease.index, offset: body.offset, padded: body.padded, chunkSize: lease.chunkSize };
  }

  private async lease(path: string, index: number | 'last', afterFailure: boolean, deadline: number): Promise<Lease> {
    const key = `${path}#${index}`;
    const cached = this.leases.get(key);
    if (cached && !afterFailure && cached.reuseUntil > Date.now()) return cached.lease;
    for (;;) {
      try {
        const lease = await this.master.call('master.lease', { path, index, afterFailure }, deadline);
        this.leases.set(key, { lease, reuseUntil: Date.now() + lease.leaseMs * LEASE_REUSE_FRACTION });
        return lease;
      } catch (err) {
        // EUNAVAILABLE here is usually a lease held by a dead primary until it expires.
        if (FINAL_MASTER_ERRORS.has((err as OfsError).code) || Date.now() + LEASE_RETRY_MS >= deadline) throw err;
        await sleep(LEASE_RETRY_MS);
      }
    }
  }
}
