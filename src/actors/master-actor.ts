import { dispatch, query, spawn, type Ref } from 'nact';
import { chooseReplicas, ClusterView, type ChunkserverLoad } from '../core/cluster-view.js';
import {
  decideChunksUpTo,
  decideCollectGarbage,
  decideCreate,
  decideDelete,
  decideExtend,
  decideMkdir,
  decideRename,
  decideUndelete,
} from '../core/commands.js';
import { OfsError, toOfsError } from '../core/errors.js';
import type { MasterEvent, UnsequencedEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { applyAll, lookup, ownedChunks, type ChunkOwners, type FileNode, type Namespace } from '../core/namespace.js';
import { joinPath, normalizePath } from '../core/paths.js';
import { stateDigest } from '../core/digest.js';
import { crashable, resumeOnCrash } from './supervision.js';
import { pickMove, usageSpread } from '../core/balance.js';
import { RETRY_CACHED_TYPES, type MessageType, type ReplyOf, type RequestOf } from '../transport/protocol.js';

/** Where the master's events become durable (its journal, and the standby behind it). */
export interface EventSink {
  append(events: MasterEvent[]): Promise<void>;
  checkpoint(ns: Namespace): Promise<{ seq: number; path: string }>;
}

export interface MasterSettings {
  id: string;
  address: string;
  chunkSize: number;
  replication: number;
  heartbeatTimeoutMs: number;
  /** Events between automatic checkpoints. */
  checkpointEvery: number;
  epoch: () => number;
  /** Masters standing by, and how far each lags behind `seq`. */
  standbys: (seq: number) => { id: string; address: string; lag: number | null }[];
  /** Starts streaming events after `seq` to a standby that took the snapshot at `seq`. */
  attachStandby: (standby: { id: string; address: string }, seq: number) => void;
  /** Chunks whose file was deleted, renamed or replaced: their leases are revoked. */
  onChunksDetached: (chunkIds: string[]) => void;
}

/** What the lease manager needs to grant a lease on one chunk. */
export interface LeaseCandidate {
  path: string;
  index: number;
  chunkId: string;
  version: number;
  /** Live servers at the chunk's version; for a chunk on no server yet, where to create it. */
  candidates: { id: string; address: string }[];
  liveIds: string[];
}

/** A replica the balancer moves from a fuller to an emptier chunkserver, and the spread before it. */
export interface BalanceMove {
  spread: number;
  move?: { chunk: LeaseCandidate; from: { id: string; address: string }; to: { id: string; address: string } };
}

/** What re-replication works from: the chunks short of replicas, and the live servers. */
export interface ReplicationNeeds {
  /** `readLately`: a client located the chunk's file in the last minute. */
  chunks: (LeaseCandidate & { missing: number; readLately: boolean })[];
  servers: { id: string; address: string; free: number }[];
}

export interface GrantedLease {
  path: string;
  index: number;
  chunkId: string;
  version: number;
  replicas: { id: string; address: string; length: number }[];
  failed: string[];
}

export type MasterOutcome<T extends MessageType = MessageType> =
  | { ok: true; body: ReplyOf<T> }
  | { ok: false; code: OfsError['code']; message: string };

/** Asks the master actor something and unwraps its outcome (an OfsError if it failed). */
export async function askMasterActor<T>(master: Ref<MasterMessage>, make: (sender: Ref<MasterOutcome>) => MasterMessage): Promise<T> {
  const outcome = (await query(master, make as never, ASK_TIMEOUT_MS)) as MasterOutcome;
  if (!outcome.ok) throw new OfsError(outcome.code, outcome.message);
  return outcome.body as T;
}

const ASK_TIMEOUT_MS = 30_000;
/** A file located within this long counts as being read, for re-replication's priorities. */
const READ_LATELY_MS = 60_000;

export type MasterMessage =
  | { kind: 'request'; type: MessageType; body: unknown; sender: Ref<MasterOutcome> }
  | { kind: 'attach-standby'; standby: { id: string; address: string }; sender: Ref<Namespace> }
  | { kind: 'prepare-lease'; path: string; index: number | 'last'; sender: Ref<MasterOutcome> }
  | { kind: 'lease-granted'; lease: GrantedLease; sender: Ref<MasterOutcome> }
  | { kind: 'replication-needs'; sender: Ref<MasterOutcome> }
  | { kind: 'balance-move'; threshold: number; sender: Ref<MasterOutcome> }
  | { kind: 'drop-replica'; chunkId: string; serverId: string; sender: Ref<MasterOutcome> }
  | { kind: 'replica-copied'; chunkId: string; version: number; serverId: string; length: number; sender: Ref<MasterOutcome> }
  | { kind: 'expire-dead'; now: number }
  | { kind: 'collect-garbage'; now: number; keepMs: number }
  | { kind: 'chunkserver-gone'; id: string };

interface MasterState {
  ns: Namespace;
  view: ClusterView;
  sinceCheckpoint: number;
  owned?: { ns: Namespace; chunks: ChunkOwners };
  /** File path → when a client last asked where its chunks are: re-replication copies those chunks first. */
  readAt: Map<string, number>;
}

type Handled = { reply: unknown; events?: UnsequencedEvent[]; after?: Promise<unknown> };


/**
 * The active master: a nact actor whose state is the namespace plus the soft
 * cluster view. Each request is decided against the state (pure functions in
 * src/core), its events are applied at once (so the next request sees them)
 * and answered only after the sink says they are durable. Not awaiting the
 * sink inside the actor is what lets the journal group-commit many requests
 * into one fsync.
 */
export function spawnMasterActor(
  parent: Ref<unknown>,
  initial: Namespace,
  settings: MasterSettings,
  sink: EventSink,
  log: Logger,
): Ref<MasterMessage> {
  const initialState: MasterState = { ns: initial, view: new ClusterView(settings.heartbeatTimeoutMs), sinceCheckpoint: 0, readAt: new Map() };

  const persist = (state: MasterState, events: UnsequencedEvent[]): { state: MasterState; durable: Promise<void> } => {
    if (events.length === 0) return { state, durable: Promise.resolve() };
    const sequenced = events.map((e, i) => ({ ...e, seq: state.ns.seq + 1 + i }) as MasterEvent);
    const detached = sequenced.flatMap((e) =>
      e.type === 'NodeDeleted' || e.type === 'FileCreated' ? [...ownedChunks(state.ns, e.path).keys()] : e.type === 'NodeRenamed' ? [...ownedChunks(state.ns, e.from).keys()] : [],
    );
    const ns = applyAll(state.ns, sequenced);
    if (detached.length > 0) settings.onChunksDetached(detached);
    // Chunks no file refers to any more are deleted through heartbeats.
    const stillOwned = detached.length > 0 ? ownedChunks(ns) : undefined;
    for (const chunkId of detached) if (!stillOwned!.has(chunkId)) state.view.scheduleDelete(chunkId);
    const durable = sink.append(sequenced).catch((err: unknown) => {
      // The in-memory state is now ahead of the log: continuing would serve
      // metadata that a restart forgets. Crash loudly; the supervisor restarts us.
      log.fatal({ err }, 'journal append failed; exiting so that state and journal cannot diverge');
      process.exit(70);
    });
    let sinceCheckpoint = state.sinceCheckpoint + sequenced.length;
    if (sinceCheckpoint >= settings.checkpointEvery) {
      sinceCheckpoint = 0;
      void sink.checkpoint(ns).catch((err) => log.error({ err }, 'checkpoint failed'));
    }
    return { state: { ...state, ns, sinceCheckpoint, owned: stillOwned && { ns, chunks: stillOwned } }, durable };
  };

  /** Marks the last event of a mutation with its request id, for the retry cache. */
  const tagged = (events: UnsequencedEvent[], requestId: string | undefined): UnsequencedEvent[] =>
    requestId && events.length > 0 ? [...events.slice(0, -1), { ...events.at(-1)!, requestId }] : events;

  const handle = (state: MasterState, type: MessageType, body: any, now: number): Handled => {
    const { ns, view } = state;
    if (RETRY_CACHED_TYPES.has(type) && body.requestId && ns.recentRequests.includes(body.requestId)) {
      // A retry of a request that already took effect (its reply was lost).
      return { reply: type === 'master.create' ? { chunkSize: settings.chunkSize, replication: settings.replication } : {} };
    }
    switch (type) {
      case 'master.mkdir':
        return { reply: {}, events: tagged(decideMkdir(ns, normalizePath(body.path), body.parents, now), body.requestId) };
      case 'master.create':
        return {
          reply: { chunkSize: settings.chunkSize, replication: settings.replication },
          events: tagged(decideCreate(ns, normalizePath(body.path), body.overwrite, now), body.requestId),
        };
      case 'master.extend':
        return { reply: {}, events: tagged(decideExtend(ns, normalizePath(body.path), body.size, settings.chunkSize, now), body.requestId) };
      case 'master.delete':
        return { reply: {}, events: tagged(decideDelete(ns, normalizePath(body.path), body.recursive, now), body.requestId) };
      case 'master.undelete':
        return { reply: {}, events: tagged(decideUndelete(ns, normalizePath(body.path), now), body.requestId) };
      case 'master.rename':
        return { reply: {}, events: tagged(decideRename(ns, normalizePath(body.from), normalizePath(body.to), now), body.requestId) };
      case 'master.checkpoint': {
        const written = sink.checkpoint(ns);
        return { reply: undefined, after: written };
      }
      case 'master.locate': {
        const path = normalizePath(body.path);
        const reply = locate(state, path, now);
        if (reply.type === 'file') state.readAt.set(path, now);
        return { reply };
      }
      case 'master.list':
        return { reply: list(ns, normalizePath(body.path)) };
      case 'master.status':
        return { reply: status(state, now) };
      case 'master.fsck':
        return { reply: fsck(state, normalizePath(body.path), now) };
      case 'master.heartbeat': {
        const known = view.heartbeat(body as ChunkserverLoad, now);
        return { reply: { known, deleteChunks: view.takeDeletes(body.id), extended: [] } };
      }
      case 'master.reportCorrupt': {
        const owner = owners(state).get(body.chunkId);
        view.markCorrupt(body.chunkId, body.id);
        const others = owner ? view.holders(body.chunkId, owner.version, now).length : 0;
        log.warn({ chunkserver: body.id, chunkId: body.chunkId, blocks: body.blocks, others }, 'corrupt replica reported');
        return { reply: { discard: others > 0 || !owner } };
      }
      case 'master.chunkReport': {
        const report = body as RequestOf<'master.chunkReport'>;
        view.report(report, report.chunks, report.full, now);
        return { reply: { deleteChunks: garbageIn(state, report.chunks) }, events: adoptHigherVersions(state, report.chunks) };
      }
      default:
        throw new OfsError('EBADMSG', `the master does not handle ${type}`);
    }
  };

  /** Every chunk's owning file, kept until the namespace changes (a walk of every file is O(files)). */
  const owners = (state: MasterState): ChunkOwners => {
    if (state.owned?.ns !== state.ns) state.owned = { ns: state.ns, chunks: ownedChunks(state.ns) };
    return state.owned.chunks;
  };

  /** Reported replicas no file owns, or at a version below the file's: delete them (GFS 4.4). */
  const garbageIn = (state: MasterState, chunks: RequestOf<'master.chunkReport'>['chunks']): string[] => {
    const owned = owners(state);
    return chunks.filter((c) => (owned.get(c.chunkId)?.version ?? Infinity) > c.version).map((c) => c.chunkId);
  };

  /**
   * A replica above the master's version means the master missed a bump
   * (it failed between telling the replicas and journaling): take the higher.
   */
  const adoptHigherVersions = (state: MasterState, chunks: RequestOf<'master.chunkReport'>['chunks']): UnsequencedEvent[] => {
    const owned = owners(state);
    return chunks
      .filter((c) => c.version > (owned.get(c.chunkId)?.version ?? Infinity))
      .map((c) => ({ type: 'ChunkVersionBumped', ...owned.get(c.chunkId)!, chunkId: c.chunkId, version: c.version }));
  };

  /** Allocates the chunk if needed and says where a lease on it may go. */
  const prepareLease = (state: MasterState, rawPath: string, at: number | 'last', now: number): Handled => {
    const path = normalizePath(rawPath);
    const file = lookup(state.ns, path);
    if (!file) throw new OfsError('ENOENT', `${path} does not exist`);
    if (file.kind !== 'file') throw new OfsError('EISDIR', `${path} is a directory`);
    const index = at === 'last' ? Math.max(0, file.chunks.length - 1) : at;
    const events = decideChunksUpTo(state.ns, path, index);
    const allocated = events.filter((e) => e.type === 'ChunkAllocated').map((e) => e as Extract<UnsequencedEvent, { type: 'ChunkAllocated' }>);
    const chunk = allocated.find((e) => e.index === index) ?? { chunkId: (file as FileNode).chunks[index]!.id, version: (file as FileNode).chunks[index]!.version };
    const live = state.view.liveServers(now);
    const candidates =
      chunk.version === 0
        ? chooseReplicas(live, settings.replication, settings.chunkSize)
        : state.view.holders(chunk.chunkId, chunk.version, now);
    if (chunk.version === 0 && candidates.length === 0) {
      // No live chunkserver yet (a master that just took over waits for reports): the writer retries.
      if (live.length === 0) throw new OfsError('EUNAVAILABLE', `no chunkserver has reported to this master yet; cannot place a chunk of ${path}`);
      // Chunkservers, but all full: say so at once rather than let the writer retry.
      throw new OfsError('ENOSPC', `no chunkserver has room for a new ${settings.chunkSize}-byte chunk of ${path} (${live.length} live)`);
    }
    const reply: LeaseCandidate = {
      path,
      index,
      chunkId: chunk.chunkId,
      version: chunk.version,
      candidates: candidates.map(({ id, address }) => ({ id, address })),
      liveIds: live.map((s) => s.id),
    };
    return { reply, events };
  };

  /** Journals the version a new lease set on the replicas, and notes where they are. */
  const recordGrant = (state: MasterState, lease: GrantedLease): Handled => {
    for (const replica of lease.replicas) state.view.recordReplica(replica.id, lease.chunkId, lease.version, replica.length);
    for (const id of lease.failed) state.view.forgetReplica(lease.chunkId, id);
    const { path, index, chunkId, version } = lease;
    return { reply: {}, events: [{ type: 'ChunkVersionBumped', path, index, chunkId, version }] };
  };

  /** Runs a handler, persists its events and answers once they are durable. */
  const answer = (state: MasterState, sender: Ref<MasterOutcome>, run: () => Handled): MasterState => {
    try {
      const { reply, events = [], after } = run();
      const next = persist(state, events);
      Promise.all([next.durable, after]).then(
        ([, late]) => dispatch(sender, { ok: true, body: (reply ?? late) as never }),
        (err: unknown) => {
          const error = toOfsError(err);
          dispatch(sender, { ok: false, code: error.code, message: error.message });
        },
      );
      return next.state;
    } catch (err) {
      const error = toOfsError(err);
      if (error.code === 'EINTERNAL') log.error({ err }, 'request failed');
      dispatch(sender, { ok: false, code: error.code, message: error.message });
      return state;
    }
  };

  const locate = (state: MasterState, path: string, now: number): ReplyOf<'master.locate'> => {
    const node = lookup(state.ns, path);
    if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
    if (node.kind === 'dir') {
      return { path, type: 'dir', size: 0, mtime: node.mtime, chunkSize: settings.chunkSize, chunks: [] };
    }
    return {
      path,
      type: 'file',
      size: node.size,
      mtime: node.mtime,
      chunkSize: settings.chunkSize,
      chunks: node.chunks.map((chunk, index) => ({
        index,
        chunkId: chunk.id,
        version: chunk.version,
        length: chunkLength(node, index),
        replicas: shuffle(
          state.view.holders(chunk.id, chunk.version, now).map(({ id, address, version }) => ({ id, address, version })),
        ),
        primary: null, // filled in by the lease manager, which knows the leases
      })),
    };
  };

  const chunkLength = (file: FileNode, index: number): number =>
    Math.max(0, Math.min(settings.chunkSize, file.size - index * settings.chunkSize));

  /** Written chunks with fewer live replicas than wanted (but at least one to copy from); the replication manager orders them. */
  const replicationNeeds = (state: MasterState, now: number): ReplicationNeeds => {
    const live = state.view.liveServers(now);
    for (const [path, at] of state.readAt) if (now - at > READ_LATELY_MS) state.readAt.delete(path);
    const chunks: ReplicationNeeds['chunks'] = [];
    for (const [chunkId, { path, index, version }] of owners(state)) {
      if (version === 0) continue;
      const holders = state.view.holders(chunkId, version, now);
      const missing = settings.replication - holders.length;
      if (holders.length > 0 && missing > 0) {
        const candidates = holders.map(({ id, address }) => ({ id, address }));
        chunks.push({ path, index, chunkId, version, missing, readLately: state.readAt.has(path), candidates, liveIds: live.map((s) => s.id) });
      }
    }
    return { chunks, servers: live.map(({ id, address, free }) => ({ id, address, free })) };
  };

  const balanceMove = (state: MasterState, threshold: number, now: number): BalanceMove => {
    const live = state.view.liveServers(now);
    const servers = live.map(({ id, address, used, free }) => ({ id, address, used, capacity: used + free }));
    const chunks = [...owners(state)]
      .filter(([, o]) => o.version > 0)
      .map(([chunkId, { path, index, version }]) => {
        const holders = state.view.holders(chunkId, version, now);
        return { chunkId, path, index, version, holders: holders.map((h) => h.id), candidates: holders.map(({ id, address }) => ({ id, address })), bytes: Math.max(0, ...holders.map((h) => h.length)) };
      })
      .filter((c) => c.holders.length >= settings.replication);
    const picked = pickMove(servers, chunks, settings.chunkSize, threshold);
    const move = picked && {
      chunk: { path: picked.chunk.path, index: picked.chunk.index, chunkId: picked.chunk.chunkId, version: picked.chunk.version, candidates: picked.chunk.candidates, liveIds: live.map((s) => s.id) },
      from: { id: picked.from.id, address: picked.from.address },
      to: { id: picked.to.id, address: picked.to.address },
    };
    return { spread: usageSpread(servers), move };
  };

  /** Every file's chunks with their live and stale replicas (HDFS fsck, for OFS). */
  const fsck = (state: MasterState, path: string, now: number): ReplyOf<'master.fsck'> => {
    if (!lookup(state.ns, path)) throw new OfsError('ENOENT', `${path} does not exist`);
    const files = new Map<string, ReplyOf<'master.fsck'>['files'][number]>();
    const summary = { files: 0, chunks: 0, healthy: 0, underReplicated: 0, missing: 0, stale: 0, corrupt: 0 };
    const owned = [...ownedChunks(state.ns, path)].sort(([, a], [, b]) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.index - b.index));
    for (const [chunkId, { path: file, index, version }] of owned) {
      const reported = state.view.reported(chunkId, now);
      const live = reported.filter((r) => r.version === version).map((r) => r.id);
      const stale = reported.filter((r) => r.version < version);
      const corrupt = state.view.corruptReplicas(chunkId);
      const status =
        version === 0 ? 'hole' : live.length === 0 ? 'missing' : live.length < settings.replication ? 'under-replicated' : 'healthy';
      if (!files.has(file)) files.set(file, { path: file, size: (lookup(state.ns, file) as FileNode).size, chunks: [] });
      files.get(file)!.chunks.push({ index, chunkId, version, live, stale, corrupt, status });
      summary.chunks++;
      summary.stale += stale.length;
      summary.corrupt += corrupt.length;
      if (status === 'healthy') summary.healthy++;
      else if (status === 'under-replicated') summary.underReplicated++;
      else if (status === 'missing') summary.missing++;
    }
    summary.files = countFiles(state.ns, path);
    return { files: [...files.values()], summary, replication: settings.replication };
  };

  const status = (state: MasterState, now: number): ReplyOf<'master.status'> => {
    const owned = owners(state);
    let underReplicated = 0;
    for (const [chunkId, { version }] of owned) {
      // Version 0: a chunk under a hole, never written, on no server by design.
      if (version > 0 && state.view.holders(chunkId, version, now).length < settings.replication) underReplicated++;
    }
    return {
      master: { id: settings.id, address: settings.address, epoch: settings.epoch(), seq: state.ns.seq, digest: stateDigest(state.ns) },
      standby: settings.standbys(state.ns.seq),
      chunkservers: state.view
        .liveServers(now)
        .sort((a, b) => a.id.localeCompare(b.id))
        .map(({ lastHeartbeat, ...load }) => ({ ...load, lastHeartbeatMs: Math.max(0, now - lastHeartbeat) })),
      chunkSize: settings.chunkSize,
      replication: settings.replication,
      files: countFiles(state.ns),
      chunks: owned.size,
      underReplicated,
    };
  };

  return spawn(
    parent,
    crashable('master', (state: MasterState, msg: MasterMessage): MasterState => {
      switch (msg.kind) {
        case 'attach-standby':
          settings.attachStandby(msg.standby, state.ns.seq);
          dispatch(msg.sender, state.ns);
          return state;
        case 'prepare-lease':
          return answer(state, msg.sender, () => prepareLease(state, msg.path, msg.index, Date.now()));
        case 'lease-granted':
          return answer(state, msg.sender, () => recordGrant(state, msg.lease));
        case 'replication-needs':
          return answer(state, msg.sender, () => ({ reply: replicationNeeds(state, Date.now()) }));
        case 'balance-move':
          return answer(state, msg.sender, () => ({ reply: balanceMove(state, msg.threshold, Date.now()) }));
        case 'drop-replica':
          return answer(state, msg.sender, () => {
            const owner = owners(state).get(msg.chunkId);
            const holders = owner ? state.view.holders(msg.chunkId, owner.version, Date.now()).length : 0;
            // Never below the replica count: the move's copy must be in place first.
            const dropped = holders > settings.replication;
            if (dropped) state.view.scheduleDeleteOn(msg.serverId, msg.chunkId);
            return { reply: { dropped } };
          });
        case 'replica-copied':
          return answer(state, msg.sender, () => {
            // Taken only if no new version came meanwhile: then the copy holds every mutation.
            const owner = owners(state).get(msg.chunkId);
            const accepted = owner?.version === msg.version;
            if (accepted) state.view.recordCopy(msg.serverId, msg.chunkId, msg.version, msg.length);
            return { reply: { accepted } };
          });
        case 'collect-garbage': {
          const events = decideCollectGarbage(state.ns, msg.now, msg.keepMs);
          if (events.length > 0) log.info({ trash: events.map((e) => (e as { path: string }).path) }, 'garbage-collecting deleted files');
          return persist(state, events).state;
        }
        case 'expire-dead':
          for (const id of state.view.expire(msg.now)) log.warn({ chunkserver: id }, 'chunkserver missed its heartbeats: dropped');
          return state;
        case 'chunkserver-gone':
          if (state.view.servers.has(msg.id)) log.warn({ chunkserver: msg.id }, 'chunkserver left ZooKeeper: dropped');
          state.view.remove(msg.id);
          return state;
        case 'request':
          return answer(state, msg.sender, () => handle(state, msg.type, msg.body, Date.now()));
      }
    }),
    'master',
    // The namespace is the truth: a crash drops the message that caused it and keeps the state.
    { initialState, onCrash: resumeOnCrash(log) as never },
  );
}

function list(ns: Namespace, path: string): ReplyOf<'master.list'> {
  const node = lookup(ns, path);
  if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
  if (node.kind === 'file') {
    return { entries: [{ name: path.slice(path.lastIndexOf('/') + 1), type: 'file', size: node.size, mtime: node.mtime }] };
  }
  const entries = Object.entries(node.children)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, child]) => ({
      name,
      type: child.kind,
      size: child.kind === 'file' ? child.size : 0,
      mtime: child.mtime,
    }));
  return { entries };
}

function countFiles(ns: Namespace, root = '/'): number {
  if (lookup(ns, root)?.kind === 'file') return 1;
  let count = 0;
  const walk = (path: string): void => {
    const node = lookup(ns, path);
    if (node?.kind !== 'dir') return;
    for (const [name, child] of Object.entries(node.children)) {
      if (child.kind === 'file') count++;
      else walk(joinPath(path, name));
    }
  };
  walk(root);
  return count;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
