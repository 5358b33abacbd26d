import { ReplicaLocations } from './replica-locations.js';

/**
 * The master's soft state: which chunkservers are alive and which chunk
 * replicas they hold. Never journaled (GFS 2.6.2): it is rebuilt from
 * chunkserver reports after every master start, because the chunkservers,
 * not the master, have the final word on what is on their disks.
 */
export interface ChunkserverLoad {
  id: string;
  address: string;
  used: number;
  free: number;
  capacity: number;
  chunkCount: number;
  /** Set anew by every start of the process (a restart may come back with an emptied disk under the same id). */
  incarnation?: string;
}

export interface ChunkserverEntry extends ChunkserverLoad {
  lastHeartbeat: number;
}

export interface ReplicaEntry {
  version: number;
  length: number;
}

/** A replica as a chunkserver reports it. */
export interface ChunkReportEntry {
  chunkId: string;
  version: number;
  length: number;
}

/**
 * Chunk ids one heartbeat reply tells a server to delete: ~200 KiB of JSON,
 * well inside a message's 1 MiB, where a deleted tree of a million chunks
 * would not be.
 */
export const DELETES_PER_REPLY = 10_000;

/** One part of a full report too big for one message: which report (ids are the server's), and whether it starts or ends it. */
export interface ReportPart {
  report: string;
  first: boolean;
  last: boolean;
}

/** A full report coming in parts: the chunks named so far, and when its first part came. */
interface OpenReport {
  named: Set<string>;
  startedAt: number;
}

/** Reports in parts a server may have under way at once: a new master's and the server's own. */
const OPEN_REPORTS_PER_SERVER = 2;
/** A report in parts not finished by then stopped part-way: the server's next heartbeat is told to send another. */
export const PARTED_REPORT_STALE_MS = 30_000;

export class ClusterView {
  readonly servers = new Map<string, ChunkserverEntry>();
  /** chunk id → chunkserver id → what that server reported, in rows of a few bytes a replica (issue 11). */
  private readonly replicas: ReplicaLocations;
  /** chunkserver id → chunks to tell it to delete with its next heartbeat reply. */
  private readonly doomed = new Map<string, Set<string>>();
  /** chunk id → servers whose replica failed its checksums, until a fresh copy is made. */
  private readonly corrupt = new Map<string, Set<string>>();
  /** chunkserver id → its full reports coming in parts, by report id. */
  private readonly openReports = new Map<string, Map<string, OpenReport>>();

  /** `replication`: the replicas a chunk is meant to have, kept in its row of `replicas` (more spill over). */
  constructor(private readonly heartbeatTimeoutMs: number, replication = 3) {
    this.replicas = new ReplicaLocations(replication);
  }

  /**
   * Returns false when the server was unknown, or is a new start of it (a
   * restart quicker than its ZooKeeper session, whose leaving the master never
   * saw), or its last report in parts stopped part-way: it must then send a
   * full report, which replaces what was known of its replicas.
   */
  heartbeat(load: ChunkserverLoad, now: number): boolean {
    const before = this.servers.get(load.id);
    let known = before !== undefined && before.incarnation === load.incarnation;
    this.servers.set(load.id, entryOf(load, now));
    // A report in parts that stopped part-way left replicas unheard of: ask for a full one again.
    const open = this.openReports.get(load.id);
    for (const [id, report] of open ?? []) {
      if (now - report.startedAt <= PARTED_REPORT_STALE_MS) continue;
      open!.delete(id);
      known = false;
    }
    if (open?.size === 0) this.openReports.delete(load.id);
    return known;
  }

  /**
   * A full report replaces what we knew of that server; a partial one adds
   * to it. A full report too big for one message comes in `part`s, each
   * added as it comes; its last one forgets the server's replicas that none
   * of its parts named (nor the master recorded itself meanwhile: a lease
   * grant's new chunk). Two may be under way at once (a new master's, read
   * from the server, and the server's own after its first heartbeat), each
   * settling by what it named. A part whose first the master did not see (it
   * started meanwhile) only adds: the server's next full report settles it.
   */
  report(load: ChunkserverLoad, chunks: ChunkReportEntry[], full: boolean, now: number, part?: ReportPart): void {
    this.servers.set(load.id, entryOf(load, now));
    if (full && !part) {
      this.openReports.delete(load.id);
      this.replicas.forgetServer(load.id);
    }
    if (full && part?.first) {
      const open = entry(this.openReports, load.id, () => new Map<string, OpenReport>());
      open.set(part.report, { named: new Set(), startedAt: now });
      for (const oldest of open.keys()) if (open.size > OPEN_REPORTS_PER_SERVER) open.delete(oldest);
    }
    for (const { chunkId, version, length } of chunks) this.recordReplica(load.id, chunkId, version, length);
    if (!full || !part?.last) return;
    const open = this.openReports.get(load.id);
    const settled = open?.get(part.report);
    if (!settled) return;
    open!.delete(part.report);
    if (open!.size === 0) this.openReports.delete(load.id);
    this.replicas.forgetServer(load.id, (chunkId) => settled.named.has(chunkId));
  }

  /** The chunk's file is gone: every server holding it deletes it on its next heartbeat (GFS 4.4, lazily). */
  scheduleDelete(chunkId: string): void {
    for (const { serverId } of this.replicas.replicasOf(chunkId)) this.scheduleDeleteOn(serverId, chunkId);
    this.corrupt.delete(chunkId);
  }

  /** One server's replica is surplus (moved elsewhere by the balancer): it deletes it on its next heartbeat. */
  scheduleDeleteOn(serverId: string, chunkId: string): void {
    this.forgetReplica(chunkId, serverId);
    entry(this.doomed, serverId, () => new Set()).add(chunkId);
  }

  /** Deletions waiting for this server, handed out once, at most DELETES_PER_REPLY at a time (the rest with the next heartbeats). */
  takeDeletes(serverId: string): string[] {
    const doomed = this.doomed.get(serverId);
    if (!doomed) return [];
    const chunks: string[] = [];
    for (const chunkId of doomed) {
      if (chunks.length === DELETES_PER_REPLY) break;
      chunks.push(chunkId);
      doomed.delete(chunkId);
    }
    if (doomed.size === 0) this.doomed.delete(serverId);
    return chunks;
  }

  /** A replica failed its checksums: it is no longer a holder, and fsck lists it until a copy replaces it. */
  markCorrupt(chunkId: string, serverId: string): void {
    this.forgetReplica(chunkId, serverId);
    entry(this.corrupt, chunkId, () => new Set()).add(serverId);
  }

  corruptReplicas(chunkId: string): string[] {
    return [...(this.corrupt.get(chunkId) ?? [])];
  }

  /** A copy made by re-replication replaces any corrupt replica of the chunk. */
  recordCopy(serverId: string, chunkId: string, version: number, length: number): void {
    this.corrupt.delete(chunkId);
    this.recordReplica(serverId, chunkId, version, length);
  }

  /** A replica the master itself just set up (a lease grant told it its version). */
  recordReplica(serverId: string, chunkId: string, version: number, length: number): void {
    this.replicas.record(chunkId, serverId, version, length);
    // Made after the server listed its chunks for a report still coming in parts: its last part must not forget it.
    for (const report of this.openReports.get(serverId)?.values() ?? []) report.named.add(chunkId);
  }

  /** A chunkserver is gone (its ZooKeeper node vanished or it stopped beating). */
  remove(serverId: string): void {
    this.servers.delete(serverId);
    this.openReports.delete(serverId);
    this.replicas.forgetServer(serverId);
  }

  forgetReplica(chunkId: string, serverId: string): void {
    this.replicas.forget(chunkId, serverId);
  }

  isLive(entry: ChunkserverEntry, now: number): boolean {
    return now - entry.lastHeartbeat <= this.heartbeatTimeoutMs;
  }

  liveServers(now: number): ChunkserverEntry[] {
    return [...this.servers.values()].filter((s) => this.isLive(s, now));
  }

  /** Servers whose heartbeats stopped, for the caller to `remove`. */
  expiring(now: number): string[] {
    return [...this.servers.values()].filter((s) => !this.isLive(s, now)).map((s) => s.id);
  }

  /** Live holders of a chunk at exactly `version` (older ones are stale and never served). */
  holders(chunkId: string, version: number, now: number): (ChunkserverEntry & ReplicaEntry)[] {
    const result: (ChunkserverEntry & ReplicaEntry)[] = [];
    for (const replica of this.replicas.replicasOf(chunkId)) {
      const server = this.servers.get(replica.serverId);
      if (!server || !this.isLive(server, now) || replica.version !== version) continue;
      // Field by field: a spread followed by more fields took ~2 µs an object in Node 20, 7 s a million holders() calls.
      const { id, address, used, free, capacity, chunkCount, lastHeartbeat } = server;
      result.push({ id, address, used, free, capacity, chunkCount, lastHeartbeat, version, length: replica.length });
    }
    return result;
  }

  /** Every live server's report of a chunk, at whatever version: fsck's view of stale copies. */
  reported(chunkId: string, now: number): { id: string; version: number }[] {
    const result: { id: string; version: number }[] = [];
    for (const { serverId, version } of this.replicas.replicasOf(chunkId)) {
      const server = this.servers.get(serverId);
      if (server && this.isLive(server, now)) result.push({ id: serverId, version });
    }
    return result;
  }

  /** Chunk ids reported by a server, for orphan detection. */
  chunksOf(serverId: string): string[] {
    return this.replicas.chunksOf(serverId);
  }
}

/**
 * The load fields only: a heartbeat or report message carries more (leases,
 * a full chunk list) that must not be kept, or sent on in `master.status`.
 */
function entryOf({ id, address, used, free, capacity, chunkCount, incarnation }: ChunkserverLoad, now: number): ChunkserverEntry {
  return { id, address, used, free, capacity, chunkCount, ...(incarnation !== undefined && { incarnation }), lastHeartbeat: now };
}

/** The collection kept under `key`, created empty on first use. */
function entry<K, V>(map: Map<K, V>, key: K, empty: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = empty()));
  return value;
}

/**
 * Where a new chunk goes: `count` distinct live servers, the least filled
 * first, then the most free space. Fill (used / (used + free)) rather than
 * free space alone: chunkservers sharing a disk all report the same free
 * space, and would otherwise always fall to the same few. Servers without
 * room for a whole chunk are skipped.
 */
export function chooseReplicas(servers: readonly ChunkserverLoad[], count: number, chunkSize: number): ChunkserverLoad[] {
  const fill = (s: ChunkserverLoad) => s.used / Math.max(1, s.used + s.free);
  return servers
    .filter((s) => s.free >= chunkSize)
    .sort((a, b) => fill(a) - fill(b) || b.free - a.free || a.id.localeCompare(b.id))
    .slice(0, count);
}
