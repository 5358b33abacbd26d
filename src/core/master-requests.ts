import type { MessageType, RequestOf } from '../transport/protocol.js';
import type { ChunkserverLoad, ClusterView } from './cluster-view.js';
import * as decide from './commands.js';
import { OfsError } from './errors.js';
import type { UnsequencedEvent } from './events.js';
import { adoptHigherVersions, garbageIn, ownedLengths, sizesFromLengths } from './master-planners.js';
import { fsck, list, locate, type ReplicaSettings } from './master-queries.js';
import { lookup, type ChunkOwners, type Namespace } from './namespace.js';
import { authorize, permits, READ, type Caller } from './permissions.js';
import { normalizePath, parentPath } from './paths.js';
import { remembers, tagged } from './retry-cache.js';

/** What the master knows when a request comes in. */
export interface MasterView {
  ns: Namespace;
  view: ClusterView;
  /**
   * Every chunk's owning file, derived from `ns` when first asked for: a walk
   * of every file, so only the requests about chunk replicas ask for it.
   */
  owners: () => ChunkOwners;
}

/** Requests that carry a `requestId` and are answered from the master's retry cache when repeated. */
export const RETRY_CACHED_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'master.mkdir',
  'master.create',
  'master.put',
  'master.extend',
  'master.delete',
  'master.rename',
  'master.undelete',
  'master.chmod',
  'master.chown',
]);

/** The answer to a request, and the events to make durable before it is given. */
export interface Decision {
  reply: unknown;
  events: UnsequencedEvent[];
}

/**
 * A client or chunkserver request to the master, decided: namespace
 * mutations become events (the last one tagged with the request id), queries
 * are answered from the namespace and the cluster view. The requests that
 * need the process (status, checkpoint) are the actor's own.
 */
export function decideRequest(state: MasterView, settings: ReplicaSettings, type: MessageType, body: any, now: number, caller: Caller): Decision {
  const { ns, view, owners } = state;
  const created = { chunkSize: settings.chunkSize, replication: settings.replication };
  // A retry of a request that already took effect (its reply was lost).
  if (RETRY_CACHED_TYPES.has(type) && body.requestId && remembers(ns.recentRequests, body.requestId)) {
    return { reply: type === 'master.create' ? created : {}, events: [] };
  }
  const mutation = (events: UnsequencedEvent[], reply: unknown = {}): Decision => ({ reply, events: tagged(events, body.requestId) });
  const path = typeof body.path === 'string' ? normalizePath(body.path) : '/';
  switch (type) {
    case 'master.mkdir':
      return mutation(decide.decideMkdir(ns, path, body.parents, now, caller, body.mode));
    case 'master.create':
      return mutation(decide.decideCreate(ns, path, body.overwrite, now, caller, body.mode), created);
    case 'master.extend':
      decide.authorizeWrite(ns, path, caller);
      return mutation(decide.decideExtend(ns, path, body.size, settings.chunkSize, now));
    case 'master.delete':
      return mutation(decide.decideDelete(ns, path, body.recursive, now, caller));
    case 'master.undelete':
      return mutation(decide.decideUndelete(ns, path, now, caller));
    case 'master.rename':
      return mutation(decide.decideRename(ns, normalizePath(body.from), normalizePath(body.to), now, caller));
    case 'master.chmod':
      return mutation(decide.decideChmod(ns, path, body.mode, caller));
    case 'master.chown':
      return mutation(decide.decideChown(ns, path, body.owner, body.group, caller));
    case 'master.list':
      // A directory's names need r on it (HDFS asks r-x; x is the traverse into it, asked for anything below); a file's own entry, traverse only.
      authorize(ns.root, path, caller, { self: lookup(ns, path)?.kind === 'dir' ? READ : undefined });
      return { reply: list(ns, path, body.after, body.limit), events: [] };
    case 'master.fsck':
      // Traverse to it, like stat: fsck counts every chunk below, and names the files the caller may list.
      authorize(ns.root, path, caller);
      return { reply: fsck(ns, view, settings, path, now, (file) => permits(ns.root, parentPath(file), caller, { self: READ })), events: [] };
    case 'master.locate':
      // Where a file's chunks are is what reading it takes: r. Without them (a stat), traverse alone.
      authorize(ns.root, path, caller, { self: body.chunks === false ? undefined : lookup(ns, path)?.kind === 'file' ? READ : undefined });
      return { reply: locate(ns, view, settings, path, now, body.chunks !== false, body.from), events: [] };
    case 'master.heartbeat':
      // Leases and the lengths their primaries report go to the lease manager, which knows their files.
      return { reply: { known: view.heartbeat(body as ChunkserverLoad, now), deleteChunks: view.takeDeletes(body.id), extended: [] }, events: [] };
    case 'master.reportCorrupt': {
      // GFS 5.2: the replica is no longer served; it may be deleted once another good one exists.
      const owner = owners().get(body.chunkId);
      view.markCorrupt(body.chunkId, body.id);
      const others = owner ? view.holders(body.chunkId, owner.version, now).length : 0;
      return { reply: { discard: others > 0 || !owner }, events: [] };
    }
    case 'master.chunkReport': {
      const report = body as RequestOf<'master.chunkReport'>;
      view.report(report, report.chunks, report.full, now, report.part);
      return {
        reply: { deleteChunks: garbageIn(owners(), report.chunks) },
        events: [...adoptHigherVersions(owners(), report.chunks), ...sizesFromLengths(ns, ownedLengths(owners(), report.chunks), settings.chunkSize, now)],
      };
    }
    default:
      throw new OfsError('EBADMSG', `the master does not handle ${type}`);
  }
}
