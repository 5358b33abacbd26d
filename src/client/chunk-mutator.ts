import { randomBytes } from 'node:crypto';
import { OfsError } from '../core/errors.js';
import type { ReplyOf } from '../transport/protocol.js';
import type { RpcClient } from '../transport/rpc-client.js';
import type { BackoffOptions } from '../util/backoff.js';
import { retry } from '../util/retry.js';
import { CHUNK_TOKEN_RENEW_MARGIN_MS } from '../security/chunk-token.js';
import { dataSocketOf } from './data-socket.js';
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
  /** How many times it was sent: more than 1 means it may have taken effect more than once (at least once). */
  attempts: number;
}

const CHUNK_CALL_TIMEOUT_MS = 30_000;
/**
 * Mutations this small send their bytes with the commit, and the primary on
 * to each secondary, instead of pushing them down the chain first (GFS 3.2):
 * below this, the push's extra round trip costs more than the primary's link
 * carrying the bytes twice.
 */
const INLINE_MAX_BYTES = 64 * 1024;
/** A lease is asked for again after this share of its life, so a client never leans on an expired one. */
const LEASE_REUSE_FRACTION = 0.5;
/** Leases a client keeps for reuse: enough for the chunks it writes at once. */
const MAX_CACHED_LEASES = 1024;
/** Pause before asking again for a lease the master could not grant (usually one a dead primary holds until it expires). */
const LEASE_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 250, jitter: 0.3 };
/** Errors of a chunk mutation that no retry can fix: a full replica, a closed client. */
const FINAL_CHUNK_ERRORS = new Set<OfsError['code']>(['ENOSPC', 'ECLOSED']);
/** Errors of the master that no retry can fix. */
const FINAL_MASTER_ERRORS = new Set<OfsError['code']>(['ENOENT', 'EISDIR', 'ENOTDIR', 'EINVAL', 'EBADMSG', 'ENOSPC', 'EACCES']);

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
    let chunkIndex = index;
    let attempts = 0;
    const attempt = async () => {
      attempts++;
      const lease = await this.lease(path, index, afterFailure, deadline);
      chunkIndex = lease.index;
      // A dead primary keeps its lease until it expires: be willing to wait that long (once, from the start).
      deadline = Math.max(deadline, started + lease.leaseMs + 5_000);
      try {
        return await this.attempt(lease, mode, offset, data, deadline);
      } catch (err) {
        this.leases.delete(leaseKey(path, index));
        throw new MutationFailure(err as OfsError);
      }
    };
    const beforeRetry = (err: unknown) => {
      // ELEASE / ESTALE: the lease moved on (expired, revoked, re-granted); EACCES: its token did
      // (expired, or the clocks disagree). Just ask again: no replica failed.
      const code = (err as MutationFailure).failure.code;
      afterFailure = code !== 'ELEASE' && code !== 'ESTALE' && code !== 'EACCES';
      this.retries++;
    };
    // A failure to get a lease is final here (lease() retried it already), and
    // a full replica stays full however often we retry: say so now.
    const retryable = (err: unknown) => err instanceof MutationFailure && !FINAL_CHUNK_ERRORS.has(err.failure.code);
    return retry(attempt, { deadline: () => deadline, retryable, beforeRetry }).then(
      (result) => ({ ...result, attempts }),
      (err: unknown) => {
        if (!(err instanceof MutationFailure)) throw err;
        throw new OfsError(err.failure.code ?? 'EUNAVAILABLE', `${mode} of ${data.length} bytes to ${path} chunk ${chunkIndex} failed: ${err.failure.message}`);
      },
    );
  }

  private async attempt(lease: Lease, mode: 'write' | 'append', offset: number, data: Buffer, deadline: number): Promise<Omit<MutationResult, 'attempts'>> {
    // Small bytes ride with the commit: a push of its own would cost a round trip along the chain.
    const bufferId = data.length > INLINE_MAX_BYTES ? randomBytes(12).toString('hex') : undefined;
    const { chunkId, version, token } = lease;
    if (bufferId) {
      // Bulk bytes go down the chain of data sockets; the commit, small, to the primary's control socket.
      const [head, ...chain] = lease.replicas.map(dataSocketOf);
      const pushTimeoutMs = timeLeft(deadline, CHUNK_CALL_TIMEOUT_MS, `pushing chunk ${chunkId}`);
      await this.rpc.call(head!.address, 'chunk.push', { chunkId, version, bufferId, chain, token }, { data: [data], timeoutMs: pushTimeoutMs, curve: head!.curve });
    }
    // The primary sends it on to the secondaries of its lease: the client names neither them nor the chunk size.
    const { body } = await this.rpc.call(
      lease.primary.address,
      'chunk.commit',
      { chunkId, version, bufferId, mode, offset, length: data.length, token },
      { data: bufferId ? [] : [data], timeoutMs: timeLeft(deadline, CHUNK_CALL_TIMEOUT_MS, `committing chunk ${chunkId}`) },
    );
    return { index: lease.index, offset: body.offset, padded: body.padded, chunkSize: lease.chunkSize };
  }

  /** Keeps a lease the master gave with another answer (a create's, for the first chunk) for the mutations that follow. */
  adopt(path: string, lease: Lease, receivedAt: number): void {
    this.remember(leaseKey(path, lease.index), lease, receivedAt);
  }

  private async lease(path: string, index: number | 'last', afterFailure: boolean, deadline: number): Promise<Lease> {
    const cached = this.leases.get(leaseKey(path, index));
    if (cached && !afterFailure && cached.reuseUntil > Date.now()) return cached.lease;
    const lease = await retry(() => this.master.call('master.lease', { path, index, afterFailure }, { deadline }), {
      deadline: () => deadline,
      backoff: LEASE_BACKOFF,
      // EUNAVAILABLE here is usually a lease held by a dead primary until it expires.
      retryable: (err) => !FINAL_MASTER_ERRORS.has((err as OfsError).code),
    });
    this.remember(leaseKey(path, index), lease, Date.now());
    return lease;
  }

  /** Caches a lease for reuse; the oldest go first past MAX_CACHED_LEASES, so a client writing a million files holds a bounded few. */
  private remember(key: string, lease: Lease, receivedAt: number): void {
    this.leases.delete(key); // re-inserted last: the map's order is the age order
    // Never past its token's renewal time either (the token outlives the lease term: chunk-token.ts).
    const tokenRenewAt = lease.token ? lease.token.expiresAt - CHUNK_TOKEN_RENEW_MARGIN_MS : Infinity;
    this.leases.set(key, { lease, reuseUntil: Math.min(receivedAt + lease.leaseMs * LEASE_REUSE_FRACTION, tokenRenewAt) });
    for (const oldest of this.leases.keys()) {
      if (this.leases.size <= MAX_CACHED_LEASES) break;
      this.leases.delete(oldest);
    }
  }
}

/** A mutation that got its lease and then failed at the chunkservers: retried, unlike a lease that could not be had. */
class MutationFailure extends Error {
  constructor(readonly failure: OfsError) {
    super(failure.message);
  }
}

/** Where a lease of chunk `index` of `path` is cached. */
function leaseKey(path: string, index: number | 'last'): string {
  return `${path}#${index}`;
}
