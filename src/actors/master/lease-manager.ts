import { dispatch, spawn, type Ref } from 'nact';
import { OfsError } from '../../core/errors.js';
import { LeaseTable, type Lease } from '../../core/granted-leases.js';
import type { Caller } from '../../core/permissions.js';
import type { Logger } from '../../util/logger.js';
import type { ReplyOf, RequestOf } from '../../transport/protocol.js';
import type { RpcClient } from '../../transport/rpc-client.js';
import { crashable, resetOnCrash } from '../supervision.js';
import type { ChunkLength, GrantedLease, LeaseCandidate, ReportedLength } from '../../core/master-planners.js';
import { askResult } from '../../util/ask.js';
import { failed, ok, settle, type Result } from '../../util/result.js';
import type { FileCreation, MasterMessage, PreparedLease, PreparedPut } from './master-messages.js';

export type LeaseReply = ReplyOf<'master.lease'>;

interface LeaseRequest {
  path: string;
  index: number | 'last';
  afterFailure: boolean;
  /** Make (or truncate) the file first (`master.create` with a lease). */
  create?: FileCreation;
  /** Who asks: the lease needs w on the file (or the right to create it). */
  caller: Caller;
  sender: Ref<Result<LeaseReply>>;
}

/** `master.put`: a small file made (or replaced) with its bytes. */
interface PutRequest {
  path: string;
  data: Buffer;
  mode?: number;
  requestId?: string;
  caller: Caller;
  sender: Ref<Result<void>>;
}

export type LeaseMessage =
  | ({ kind: 'lease' } & LeaseRequest)
  | ({ kind: 'prepared'; request: LeaseRequest } & PreparedLease)
  | ({ kind: 'put' } & PutRequest)
  | ({ kind: 'prepared-put'; request: PutRequest } & PreparedPut)
  /** A put answered: its caller, and every retry of it that came while it was under way. */
  | { kind: 'put-done'; request: PutRequest; outcome: Result<void> }
  /** `tried`: the last version the grant set (or tried to set) on replicas. */
  | { kind: 'granted'; chunkId: string; fresh: boolean; tried: number; outcome: Result<{ lease?: Lease; version: number; index: number }> }
  /** Re-replication: a new version on the live replicas with no primary, so a copy made now cannot miss a mutation. */
  | { kind: 'bump'; candidate: LeaseCandidate; sender: Ref<Result<number>> }
  | { kind: 'extend'; serverId: string; leases: ReportedLength[]; sender: Ref<{ extended: ReplyOf<'master.heartbeat'>['extended']; lengths: ChunkLength[] }> }
  | { kind: 'revoke'; chunkIds: string[] }
  | { kind: 'primaries'; chunkIds: string[]; sender: Ref<(string | null)[]> };

/** A put's bytes, and its id for the master's retry cache. */
interface PutBytes {
  data: Buffer;
  requestId?: string;
}

/** Answers one request for a lease. */
type LeaseWaiter = (outcome: Result<LeaseReply>) => void;

interface LeaseState {
  table: LeaseTable;
  /** Chunks with a grant under way, and who waits for it: one grant at a time per chunk. */
  granting: Map<string, { leases: LeaseWaiter[]; bump?: Ref<Result<number>>; put?: (outcome: Result<void>) => void }>;
  /**
   * New chunks whose first version no replica took (every call failed or
   * timed out), with the highest version tried. Nothing was journaled, so
   * the next try would set version 1 again, maybe on other servers; one
   * that took the first try late (paused past the timeout) would then hold
   * an empty replica at the chunk's version and pass for current. So the
   * next try goes above it, and above any version a server reported of the
   * chunk, and above every version an earlier epoch could have tried
   * (`versionFloor`). Dropped once a grant of the chunk succeeds; at most
   * MAX_FRESH_TRIED, the oldest forgotten first. A master that dies forgets
   * them, and the next one, of a higher epoch, tries above them all. A lease
   * manager that crashes forgets them too: then a late replica of a try
   * before, on a server that has not reported since, can still meet a new
   * try at its version (design.md, "Chunk versions").
   */
  freshTried: Map<string, number>;
  /** Puts under way by request id, with the retries of each that wait for it. */
  putsUnderWay: Map<string, Ref<Result<void>>[]>;
}

const MAX_FRESH_TRIED = 100_000;

export interface LeaseSettings {
  leaseMs: number;
  chunkSize: number;
  /**
   * Settles once a master that just took over has heard where replicas are
   * (every chunkserver's report, or a bounded wait). Leases wait for it: a
   * new chunk placed earlier would go to fewer servers than it should, and
   * a lease on an existing chunk would leave its unreported replicas stale.
   * Namespace requests do not wait.
   */
  placementReady?: Promise<void>;
  metrics: LeaseMetrics;
}

/** What the lease manager reports (metrics, at the edge). */
export interface LeaseMetrics {
  /** A new lease was granted: a primary chosen, versions bumped, the bump journaled. */
  granted(): void;
}

const CALL_TIMEOUT_MS = 3_000;

/**
 * The lease manager (GFS 3.1, 4.5): hands out a chunk's lease, or the one in
 * force. A new lease bumps the chunk's version on every live replica before
 * the master journals it and before any client hears of the primary, so a
 * replica that missed it is stale and never served again. The master's state
 * (namespace, chunk locations) stays with the master actor, asked by message.
 */
export function spawnLeaseManager(
  parent: Ref<unknown>,
  master: Ref<MasterMessage>,
  rpc: RpcClient,
  settings: LeaseSettings,
  log: Logger,
): Ref<LeaseMessage> {
  const reply = (lease: Lease, index: number): LeaseReply => ({
    index,
    chunkId: lease.chunkId,
    version: lease.version,
    primary: lease.primary,
    replicas: lease.replicas,
    leaseMs: settings.leaseMs,
    chunkSize: settings.chunkSize,
  });

  /**
   * The slow part, outside the actor: revoke what is in force, set the new
   * version on the replicas (the first one as primary, unless `withLease` is
   * false), journal it. Returns the lease, if one was asked for.
   */
  const grant = async (candidate: LeaseCandidate, inForce: Lease | undefined, withLease: boolean, attempt: { version: number }, put?: PutBytes): Promise<{ version: number; lease?: Lease }> => {
    if (inForce) {
      // Only a revocation the primary confirmed allows a new primary before expiry.
      await rpc.call(inForce.primary.address, 'chunk.revokeLease', { chunkId: inForce.chunkId }, { timeoutMs: CALL_TIMEOUT_MS }).catch(() => {
        throw new OfsError(
          'EUNAVAILABLE',
          `chunk ${inForce.chunkId}: the lease held by ${inForce.primary.id} cannot be revoked; it expires in ${Math.max(0, inForce.expiresAt - Date.now())} ms`,
        );
      });
    }
    const { chunkId, candidates } = candidate;
    if (candidates.length === 0) {
      throw new OfsError('EUNAVAILABLE', `chunk ${chunkId} of ${candidate.path}: no live replica at version ${candidate.version}`);
    }
    const fresh = candidate.version === 0;
    // `first`: the first round, which makes a new chunk's replicas (empty, or with a put's bytes); a
    // later one only moves on the replicas that answered it, keeping what they hold.
    const setVersion = (server: { address: string }, version: number, first: boolean, lease?: RequestOf<'chunk.setVersion'>['lease']) => {
      const bytes = first ? put?.data : undefined;
      return rpc.call(server.address, 'chunk.setVersion', { chunkId, version, fresh: fresh && first, lease, put: bytes?.length }, { timeoutMs: CALL_TIMEOUT_MS, data: bytes && [bytes] });
    };
    // The primary's lease names its secondaries and the chunk size: it takes neither from a client.
    const leaseFor = (round: typeof candidates) => ({
      leaseMs: settings.leaseMs,
      secondaries: round.slice(1).map(({ id, address }) => ({ id, address })),
      chunkSize: settings.chunkSize,
    });
    // A replica that did not answer may still apply the version later (it was
    // paused, or slow past the timeout), and would then pass for current
    // without the mutations that follow. So after any miss, the replicas that
    // answered go up once more, leaving every late one a version behind.
    let version = attempt.version;
    let replicas: (typeof candidates[number] & { length: number })[] = [];
    const failed: string[] = [];
    let grantedAt = Date.now();
    const firstVersion = version + 1;
    /** The error codes of the last round's refusals. */
    let refusals: string[] = [];
    for (let round: typeof candidates = candidates; round.length > 0; ) {
      version += 1;
      attempt.version = version;
      grantedAt = Date.now();
      const results = await Promise.allSettled(round.map((c, i) => setVersion(c, version, version === firstVersion, withLease && i === 0 ? leaseFor(round) : undefined)));
      replicas = round.flatMap((c, i) => {
        const r = results[i]!;
        return r.status === 'fulfilled' ? [{ ...c, length: r.value.body.length }] : [];
      });
      const missed = round.filter((_, i) => results[i]!.status === 'rejected').map((c) => c.id);
      refusals = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as OfsError).code] : []));
      failed.push(...missed);
      round = missed.length > 0 ? replicas : [];
    }
    // The first replica of the last round was told it holds the lease.
    const primary = replicas[0];
    const granted: GrantedLease = { path: candidate.path, index: candidate.index, chunkId, version, replicas, failed };
    const written = put && { size: put.data.length, requestId: put.requestId };
    if (replicas.length > 0) await askResult(master)((sender) => ({ kind: 'lease-granted', lease: granted, put: written, sender }));
    // Every replica full: no retry finds room there (a put's bytes, or a new chunk's files, refused).
    if (!primary && refusals.length > 0 && refusals.every((code) => code === 'ENOSPC')) throw new OfsError('ENOSPC', `chunk ${chunkId}: no replica has room (${failed.join(', ')})`);
    if (!primary) throw new OfsError('EUNAVAILABLE', `chunk ${chunkId}: no replica took a new version (${failed.join(', ')} did not answer)`);
    if (failed.length > 0) log.warn({ chunkId, version, failed }, 'replicas missed a new version: they are stale now');
    if (!withLease) return { version };
    return {
      version,
      lease: {
        path: candidate.path,
        index: candidate.index,
        chunkId,
        version,
        primary: { id: primary.id, address: primary.address },
        replicas: replicas.map(({ id, address }) => ({ id, address })),
        expiresAt: grantedAt + settings.leaseMs,
      },
    };
  };

  /** `state`'s record of a new chunk's earlier tries decides the version this one starts above. */
  const startGrant = (self: Ref<LeaseMessage>, state: LeaseState, candidate: LeaseCandidate, inForce: Lease | undefined, withLease: boolean, put?: PutBytes): void => {
    const fresh = candidate.version === 0;
    const attempt = { version: fresh ? Math.max(state.freshTried.get(candidate.chunkId) ?? 0, candidate.versionFloor ?? 0) : candidate.version };
    void settle(grant(candidate, inForce, withLease, attempt, put).then((granted) => ({ ...granted, index: candidate.index }))).then((outcome) =>
      dispatch(self, { kind: 'granted', chunkId: candidate.chunkId, fresh, tried: attempt.version, outcome }),
    );
  };

  /**
   * Asks the master to prepare a lease or a put (a create, a chunk placed),
   * once placement is ready, then hands the preparation back to this actor.
   */
  const prepare = <P>(request: (sender: Ref<Result<P>>) => MasterMessage, prepared: (p: P) => void, refused: (outcome: Result<never>) => void): void => {
    const ready = settings.placementReady ?? Promise.resolve();
    ready.then(() => askResult(master)<P>(request)).then(prepared, (err) => refused(failed(err)));
  };

  return spawn(
    parent,
    crashable('lease-manager', (state: LeaseState, msg: LeaseMessage, ctx: { self: Ref<LeaseMessage> }): LeaseState => {
      const now = Date.now();
      switch (msg.kind) {
        case 'lease': {
          const { kind: _, ...request } = msg;
          prepare(
            (sender: Ref<Result<PreparedLease>>) => ({ kind: 'prepare-lease', path: msg.path, index: msg.index, create: msg.create, caller: msg.caller, sender }),
            (prepared) => dispatch(ctx.self, { kind: 'prepared', request, ...prepared }),
            (refusal) => dispatch(msg.sender, refusal),
          );
          return state;
        }
        case 'put': {
          const { kind: _, ...request } = msg;
          // A retry of a put still under way (its call timed out at the client) waits for it, rather than
          // making the file again, maybe after another client renamed the first one away.
          const retried = msg.requestId === undefined ? undefined : state.putsUnderWay.get(msg.requestId);
          if (retried) {
            retried.push(msg.sender);
            return state;
          }
          if (msg.requestId !== undefined) state.putsUnderWay.set(msg.requestId, []);
          prepare(
            (sender: Ref<Result<PreparedPut>>) => ({ kind: 'prepare-put', path: msg.path, mode: msg.mode, requestId: msg.requestId, caller: msg.caller, sender }),
            (prepared) => dispatch(ctx.self, { kind: 'prepared-put', request, ...prepared }),
            (refusal) => dispatch(ctx.self, { kind: 'put-done', request, outcome: refusal }),
          );
          return state;
        }
        case 'put-done': {
          const { request, outcome } = msg;
          dispatch(request.sender, outcome);
          if (request.requestId === undefined) return state;
          for (const sender of state.putsUnderWay.get(request.requestId) ?? []) dispatch(sender, outcome);
          state.putsUnderWay.delete(request.requestId);
          return state;
        }
        case 'prepared-put': {
          const { request, durable } = msg;
          const answer = (outcome: Result<void>) => void durable.then(() => dispatch(ctx.self, { kind: 'put-done', request, outcome }));
          if ('repeated' in msg) {
            answer(ok(undefined));
            return state;
          }
          // The master made the chunk for this put in the turn that answered it: no lease can be on it yet.
          const { candidate } = msg;
          if (candidate.version !== 0 || state.granting.has(candidate.chunkId)) {
            answer(failed(new OfsError('EINTERNAL', `chunk ${candidate.chunkId} of ${candidate.path} is not new: a put cannot write it`)));
            return state;
          }
          state.granting.set(candidate.chunkId, { leases: [], put: answer });
          startGrant(ctx.self, state, candidate, undefined, false, { data: request.data, requestId: request.requestId });
          return state;
        }
        case 'prepared': {
          const { request, candidate, durable } = msg;
          // What prepared the lease (the file's create, say) is journaled before its caller hears of it.
          const waiter: LeaseWaiter = (outcome) => void durable.then(() => dispatch(request.sender, outcome));
          const inForce = state.table.current(candidate.chunkId, now);
          const usable = inForce && inForce.version === candidate.version && candidate.liveIds.includes(inForce.primary.id);
          if (usable && !request.afterFailure) {
            waiter(ok(reply(inForce, candidate.index)));
            return state;
          }
          const waiting = state.granting.get(candidate.chunkId);
          if (waiting) {
            waiting.leases.push(waiter);
            return state;
          }
          state.granting.set(candidate.chunkId, { leases: [waiter] });
          startGrant(ctx.self, state, candidate, inForce, true);
          return state;
        }
        case 'bump': {
          if (state.granting.has(msg.candidate.chunkId)) {
            dispatch(msg.sender, failed(new OfsError('EUNAVAILABLE', `chunk ${msg.candidate.chunkId} is getting a new lease; copy it later`)));
            return state;
          }
          state.granting.set(msg.candidate.chunkId, { leases: [], bump: msg.sender });
          startGrant(ctx.self, state, msg.candidate, state.table.current(msg.candidate.chunkId, now), false);
          return state;
        }
        case 'granted': {
          const waiters = state.granting.get(msg.chunkId) ?? { leases: [] };
          state.granting.delete(msg.chunkId);
          const { outcome } = msg;
          if (outcome.ok) state.freshTried.delete(msg.chunkId);
          else if (msg.fresh && msg.tried > 0) {
            state.freshTried.delete(msg.chunkId); // re-inserted last: the newest
            state.freshTried.set(msg.chunkId, msg.tried);
            if (state.freshTried.size > MAX_FRESH_TRIED) state.freshTried.delete(state.freshTried.keys().next().value!);
          }
          if (outcome.ok) state.table.revoke(msg.chunkId);
          if (outcome.ok && outcome.value.lease) {
            state.table.grant(outcome.value.lease, now);
            settings.metrics.granted();
          }
          // Made only for waiters: an error's stack trace cost ~40 µs on every grant.
          const answer = (): Result<LeaseReply> => {
            if (!outcome.ok) return outcome;
            if (outcome.value.lease) return ok(reply(outcome.value.lease, outcome.value.index));
            return failed(new OfsError('EUNAVAILABLE', `chunk ${msg.chunkId} took a new version without a lease (re-replication, or a small file's put); ask again`));
          };
          if (waiters.leases.length > 0) {
            const answered = answer();
            for (const waiter of waiters.leases) waiter(answered);
          }
          if (waiters.bump) dispatch(waiters.bump, outcome.ok ? ok(outcome.value.version) : outcome);
          waiters.put?.(outcome.ok ? ok(undefined) : outcome);
          return state;
        }
        case 'extend': {
          const kept = msg.leases.filter((l) => state.table.extend(l.chunkId, l.version, msg.serverId, now, settings.leaseMs));
          dispatch(msg.sender, {
            extended: kept.map(({ chunkId, version }) => ({ chunkId, version, leaseMs: settings.leaseMs })),
            // The primary's length of each chunk it holds, with the file the lease names: how appends reach the file's size.
            lengths: kept.map((l) => ({ ...l, ...pick(state.table.current(l.chunkId, now)!) })),
          });
          return state;
        }
        case 'primaries':
          dispatch(msg.sender, msg.chunkIds.map((chunkId) => state.table.current(chunkId, now)?.primary.id ?? null));
          return state;
        case 'revoke':
          for (const chunkId of msg.chunkIds) {
            const lease = state.table.revoke(chunkId);
            if (lease) void rpc.call(lease.primary.address, 'chunk.revokeLease', { chunkId }, { timeoutMs: CALL_TIMEOUT_MS }).catch(() => undefined);
          }
          return state;
      }
    }),
    'lease-manager',
    // A restarted lease manager knows no leases: safe, since every new lease bumps the version.
    { initialStateFunc: () => ({ table: new LeaseTable(), granting: new Map(), freshTried: new Map(), putsUnderWay: new Map() }), onCrash: resetOnCrash(log) },
  );
}

function pick({ path, index }: Lease): { path: string; index: number } {
  return { path, index };
}
