import { pickMove, usageSpread } from './balance.js';
import { firstVersionFloor } from './chunk-id.js';
import { chooseReplicas, type ClusterView } from './cluster-view.js';
import { decideChunksUpTo, decideExtend } from './commands.js';
import { OfsError } from './errors.js';
import type { MasterEvent, UnsequencedEvent } from './events.js';
import type { ReplicaSettings } from './master-queries.js';
import { tagged } from './retry-cache.js';
import { lookup, ownedChunks, type ChunkOwners, type Namespace } from './namespace.js';

/**
 * The master's decisions about chunks, as functions of the namespace, the
 * cluster view and `now`: where a lease may go, which chunks need copies,
 * which replica to move, what reported replicas are garbage. They return
 * events to journal, or plans for the actors that do the slow work.
 */

export interface ServerRef {
  id: string;
  address: string;
}

/** What the lease manager needs to grant a lease on one chunk. */
export interface LeaseCandidate {
  path: string;
  index: number;
  chunkId: string;
  version: number;
  /** Live servers at the chunk's version; for a chunk on no server yet, where to create it. */
  candidates: ServerRef[];
  liveIds: string[];
  /**
   * For a chunk at version 0, the version its grant goes above: the highest
   * a live server reported of it, left by a first try never journaled
   * (`adoptHigherVersions`), and every version an earlier epoch could have
   * tried (`firstVersionFloor`). A replica a first try left behind is then
   * stale, never current and empty.
   */
  versionFloor?: number;
}

/** A lease grant as it went: the replicas that took the new version, and those that missed it. */
export interface GrantedLease {
  path: string;
  index: number;
  chunkId: string;
  version: number;
  replicas: (ServerRef & { length: number })[];
  failed: string[];
}

/** A replica the balancer moves from a fuller to an emptier chunkserver, and the spread before it. */
export interface BalanceMove {
  spread: number;
  move?: { chunk: LeaseCandidate; from: ServerRef; to: ServerRef };
}

/** What re-replication works from: the chunks short of replicas, and the live servers. */
export interface ReplicationNeeds {
  /** `readLately`: a client located the chunk's file in the last minute. */
  chunks: (LeaseCandidate & { missing: number; readLately: boolean })[];
  servers: (ServerRef & { free: number })[];
}

export interface ReportedReplica {
  chunkId: string;
  version: number;
}

export interface ReportedLength extends ReportedReplica {
  /** Bytes of the replica synced to disk. */
  length: number;
}

/** A replica's length, with the file and chunk index the master knows the chunk by. */
export interface ChunkLength extends ReportedLength {
  path: string;
  index: number;
}

/**
 * Allocates chunk `at` of `path` (and any before it) if needed, and says
 * where a lease on it may go: its live holders, or for a new chunk the least
 * filled servers with room.
 */
export function prepareLease(
  ns: Namespace,
  view: ClusterView,
  settings: ReplicaSettings,
  path: string,
  at: number | 'last',
  now: number,
  /** The active master's: new chunks take ids from its range. */
  epoch: number,
): { candidate: LeaseCandidate; events: UnsequencedEvent[] } {
  const file = lookup(ns, path);
  if (!file) throw new OfsError('ENOENT', `${path} does not exist`);
  if (file.kind !== 'file') throw new OfsError('EISDIR', `${path} is a directory`);
  const index = at === 'last' ? Math.max(0, file.chunks.length - 1) : at;
  const events = decideChunksUpTo(ns, path, index, epoch);
  const allocated = events.find((e): e is Extract<UnsequencedEvent, { type: 'ChunkAllocated' }> => e.type === 'ChunkAllocated' && e.index === index);
  const chunk = allocated ?? { chunkId: file.chunks[index]!.id, version: file.chunks[index]!.version };
  const live = view.liveServers(now);
  const candidates = chunk.version === 0 ? chooseReplicas(live, settings.replication, settings.chunkSize) : view.holders(chunk.chunkId, chunk.version, now);
  if (chunk.version === 0 && candidates.length === 0) {
    // No live chunkserver yet (a master that just took over waits for reports): the writer retries.
    if (live.length === 0) throw new OfsError('EUNAVAILABLE', `no chunkserver has reported to this master yet; cannot place a chunk of ${path}`);
    // Chunkservers, but all full: say so at once rather than let the writer retry.
    throw new OfsError('ENOSPC', `no chunkserver has room for a new ${settings.chunkSize}-byte chunk of ${path} (${live.length} live)`);
  }
  return {
    candidate: {
      path,
      index,
      chunkId: chunk.chunkId,
      version: chunk.version,
      candidates: candidates.map(({ id, address }) => ({ id, address })),
      liveIds: live.map((s) => s.id),
      ...(chunk.version === 0 && { versionFloor: Math.max(firstVersionFloor(epoch), ...view.reported(chunk.chunkId, now).map((r) => r.version)) }),
    },
    events,
  };
}

/**
 * Notes where a new lease's replicas are, and returns the version to journal,
 * under the path that holds the chunk *now*: the grant took a round of calls
 * to the replicas, and meanwhile its file may have been renamed (the bump
 * goes to the new path), or deleted or replaced by a new file at its path
 * (the chunk belongs to no file: ENOENT, and the writer asks again).
 */
export function recordGrant(view: ClusterView, owners: ChunkOwners, lease: GrantedLease): UnsequencedEvent[] {
  const { path, chunkId, version } = lease;
  const owner = owners.get(chunkId);
  if (!owner) throw new OfsError('ENOENT', `chunk ${chunkId} of ${path} belongs to no file any more: deleted or replaced while its lease was granted`);
  for (const replica of lease.replicas) view.recordReplica(replica.id, chunkId, version, replica.length);
  for (const id of lease.failed) view.forgetReplica(chunkId, id);
  return [{ type: 'ChunkVersionBumped', path: owner.path, index: owner.index, chunkId, version }];
}

/** What a put's chunk took with its first version: the bytes' length (the file's size), and the put's id for the retry cache. */
export interface PutWritten {
  size: number;
  requestId?: string;
}

/**
 * A put's chunk took its first version with the bytes on `lease.replicas`:
 * that version and the file's size go together, the last event tagged with
 * the put's id for the retry cache. The size goes to the file that owns the
 * chunk now (renamed meanwhile, it is that file's).
 */
export function recordPut(ns: Namespace, view: ClusterView, owners: ChunkOwners, lease: GrantedLease, put: PutWritten, chunkSize: number, now: number): UnsequencedEvent[] {
  const bumped = recordGrant(view, owners, lease);
  return tagged([...bumped, ...decideExtend(ns, owners.get(lease.chunkId)!.path, put.size, chunkSize, now)], put.requestId);
}

/** Written chunks with fewer live replicas than wanted (but at least one to copy from); the replication manager orders them. */
export function replicationNeeds(
  owners: ChunkOwners,
  view: ClusterView,
  settings: ReplicaSettings,
  readLately: (path: string) => boolean,
  now: number,
): ReplicationNeeds {
  const live = view.liveServers(now);
  const chunks: ReplicationNeeds['chunks'] = [];
  for (const [chunkId, { path, index, version }] of owners) {
    if (version === 0) continue;
    const holders = view.holders(chunkId, version, now);
    const missing = settings.replication - holders.length;
    if (holders.length > 0 && missing > 0) {
      const candidates = holders.map(({ id, address }) => ({ id, address }));
      chunks.push({ path, index, chunkId, version, missing, readLately: readLately(path), candidates, liveIds: live.map((s) => s.id) });
    }
  }
  return { chunks, servers: live.map(({ id, address, free }) => ({ id, address, free })) };
}

/**
 * The next replica to move to even out fills down to `threshold`, if any, and
 * the spread now. The master passes a bounded slice of its chunks (a walk, as
 * for replication): a move is looked for among those.
 */
export function balanceMove(owners: ChunkOwners, view: ClusterView, settings: ReplicaSettings, threshold: number, now: number): BalanceMove {
  const live = view.liveServers(now);
  const servers = live.map(({ id, address, used, free }) => ({ id, address, used, capacity: used + free }));
  // Balanced (most ticks): no look at any chunk.
  const spread = usageSpread(servers);
  if (spread <= threshold) return { spread, move: undefined };
  const chunks = [...owners]
    .filter(([, o]) => o.version > 0)
    .map(([chunkId, { path, index, version }]) => {
      const holders = view.holders(chunkId, version, now);
      return {
        chunkId,
        path,
        index,
        version,
        holders: holders.map((h) => h.id),
        candidates: holders.map(({ id, address }) => ({ id, address })),
        bytes: Math.max(0, ...holders.map((h) => h.length)),
      };
    })
    .filter((c) => c.holders.length >= settings.replication);
  const picked = pickMove(servers, chunks, settings.chunkSize, threshold);
  const move = picked && {
    chunk: {
      path: picked.chunk.path,
      index: picked.chunk.index,
      chunkId: picked.chunk.chunkId,
      version: picked.chunk.version,
      candidates: picked.chunk.candidates,
      liveIds: live.map((s) => s.id),
    },
    from: { id: picked.from.id, address: picked.from.address },
    to: { id: picked.to.id, address: picked.to.address },
  };
  return { spread, move };
}

/** Reported replicas no file owns, or at a version below the file's: delete them (GFS 4.4). */
export function garbageIn(owners: ChunkOwners, reported: readonly ReportedReplica[]): string[] {
  return reported.filter((c) => (owners.get(c.chunkId)?.version ?? Infinity) > c.version).map((c) => c.chunkId);
}

/**
 * A replica above the master's version means the master missed a bump (it
 * failed between telling the replicas and journaling): take the higher.
 * Not for a chunk still at version 0: no client ever had a lease on it, so a
 * replica of it is from a first try never journaled (a master that died in
 * that round, or a try no replica answered in time), empty or holding a
 * put's bytes, and maybe one of several tries at different versions; taken
 * as current, it would pass for a replica of what the next grant writes.
 * That grant goes above it instead (`versionFloor`), and its first version
 * starts such a replica empty again.
 */
export function adoptHigherVersions(owners: ChunkOwners, reported: readonly ReportedReplica[]): UnsequencedEvent[] {
  return reported
    .filter((c) => {
      const version = owners.get(c.chunkId)?.version;
      return version !== undefined && version > 0 && c.version > version;
    })
    .map((c) => ({ type: 'ChunkVersionBumped', ...owners.get(c.chunkId)!, chunkId: c.chunkId, version: c.version }));
}

/**
 * A file's size follows its chunks' lengths, as their primaries (with each
 * heartbeat) and chunk reports tell (GFS 3.3): record appends reach the master
 * with no call of their own. A length is trusted only for the chunk the file
 * holds at that index, at the master's version. One event per file whose
 * size grows.
 */
export function sizesFromLengths(ns: Namespace, lengths: readonly ChunkLength[], chunkSize: number, now: number): UnsequencedEvent[] {
  const grown = new Map<string, number>();
  for (const { path, index, chunkId, version, length } of lengths) {
    const file = lookup(ns, path);
    if (file?.kind !== 'file') continue;
    const chunk = file.chunks[index];
    if (!chunk || chunk.id !== chunkId || chunk.version !== version || length === 0) continue;
    const size = index * chunkSize + length;
    if (size > Math.max(file.size, grown.get(path) ?? 0)) grown.set(path, size);
  }
  return [...grown].map(([path, size]) => ({ type: 'FileExtended', path, size, mtime: now }));
}

/** Reported replicas with the file and index of each that some file owns. */
export function ownedLengths(owners: ChunkOwners, reported: readonly ReportedLength[]): ChunkLength[] {
  return reported.flatMap((r) => {
    const owner = owners.get(r.chunkId);
    return owner ? [{ ...r, path: owner.path, index: owner.index }] : [];
  });
}

/** A balancing move may drop its source replica only while more than the wanted number remain: the copy must be in place first. */
export function dropReplica(owners: ChunkOwners, view: ClusterView, settings: ReplicaSettings, chunkId: string, serverId: string, now: number): boolean {
  const owner = owners.get(chunkId);
  const holders = owner ? view.holders(chunkId, owner.version, now).length : 0;
  const dropped = holders > settings.replication;
  if (dropped) view.scheduleDeleteOn(serverId, chunkId);
  return dropped;
}

/** A finished copy counts only if no new version came meanwhile: then it holds every mutation. */
export function acceptCopy(owners: ChunkOwners, view: ClusterView, copy: { chunkId: string; version: number; serverId: string; length: number }): boolean {
  const accepted = owners.get(copy.chunkId)?.version === copy.version;
  if (accepted) view.recordCopy(copy.serverId, copy.chunkId, copy.version, copy.length);
  return accepted;
}
