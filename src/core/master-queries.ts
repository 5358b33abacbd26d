import type { ReplyOf } from '../transport/protocol.js';
import type { ClusterView } from './cluster-view.js';
import { OfsError } from './errors.js';
import type { ChunkTable } from './chunk-table.js';
import { entriesAfter } from './dir-entries.js';
import { lookup, ownedChunks, walkFiles, type ChunkOwners, type FileNode, type Namespace, type Node } from './namespace.js';

/**
 * The master's read-only answers, as functions of the namespace, the
 * cluster view and `now`: what a client sees when it locates, lists, checks
 * or asks for status. No clock, no randomness: the actor passes `now` and
 * shuffles replicas itself.
 */

type FsckFile = ReplyOf<'master.fsck'>['files'][number];
type FsckChunk = FsckFile['chunks'][number];

/** What every master query needs to know of the cluster's configuration. */
export interface ReplicaSettings {
  chunkSize: number;
  replication: number;
}

/** Bytes of chunk `index` of `file` (the last one may be short; chunks past the end hold none). */
export function chunkLength(file: FileNode, index: number, chunkSize: number): number {
  return Math.max(0, Math.min(chunkSize, file.size - index * chunkSize));
}

/**
 * Chunks in one `master.locate` reply: 8 GiB of a file in 64 MiB chunks, and
 * under a message header's 1 MiB (envelope.ts) even with tokens, data keys
 * and 24 holders a chunk (~550 KB). The reply for a file of any size stays
 * this small.
 */
export const LOCATE_CHUNKS_MAX = 128;

/**
 * A file's chunks with their live replicas at the current version (`primary`
 * is the lease manager's to fill in): with `chunks`, a window of them from
 * chunk `from` (reading it), or none (a stat). A window, never the whole
 * list, so the reply's size does not grow with the file's.
 */
export function locate(ns: Namespace, view: ClusterView, settings: ReplicaSettings, path: string, now: number, chunks = true, from = 0): ReplyOf<'master.locate'> {
  const node = lookup(ns, path);
  if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
  const { owner, group, mode } = node;
  const fixed = { path, mtime: node.mtime, owner, group, mode, chunkSize: settings.chunkSize };
  if (node.kind === 'dir') return { ...fixed, type: 'dir', size: 0, chunkCount: 0, firstChunkId: null, chunks: [] };
  const window = chunks ? node.chunks.slice(from, from + LOCATE_CHUNKS_MAX) : [];
  return {
    ...fixed,
    type: 'file',
    size: node.size,
    chunkCount: node.chunks.length,
    firstChunkId: node.chunks[0]?.id ?? null,
    chunks: window.map((chunk, i) => ({
      index: from + i,
      chunkId: chunk.id,
      version: chunk.version,
      length: chunkLength(node, from + i, settings.chunkSize),
      replicas: view.holders(chunk.id, chunk.version, now).map(({ id, address, version }) => ({ id, address, version })),
      primary: null,
    })),
  };
}

/** Most entries one `list` reply holds: a directory of millions is read page by page. */
export const LIST_PAGE_MAX = 10_000;

/**
 * Bytes of JSON a `list` page's entries take at most: a page stays inside a
 * message header's limit (1 MiB, envelope.ts), where LIST_PAGE_MAX entries
 * of long names, or even of short ones, would not.
 */
const LIST_PAGE_BYTES = 768 * 1024;

/**
 * A page of a directory's entries in name order: at most `limit` and
 * LIST_PAGE_BYTES, those after
 * the name `after`; `more` says whether entries follow. A file is listed as its own single entry.
 */
export function list(ns: Namespace, path: string, after?: string, limit = LIST_PAGE_MAX): ReplyOf<'master.list'> {
  const node = lookup(ns, path);
  if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
  if (node.kind === 'file') {
    const name = path.slice(path.lastIndexOf('/') + 1);
    return { entries: after !== undefined && after >= name ? [] : [entryOf(name, node)], more: false };
  }
  const entries: ReplyOf<'master.list'>['entries'] = [];
  let bytes = 0;
  for (const [name, child] of entriesAfter(node.children, after)) {
    if (entries.length === limit) return { entries, more: true };
    const entry = entryOf(name, child);
    bytes += Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (bytes > LIST_PAGE_BYTES && entries.length > 0) return { entries, more: true };
    entries.push(entry);
  }
  return { entries, more: false };
}

function entryOf(name: string, node: Node): ReplyOf<'master.list'>['entries'][number] {
  return { name, type: node.kind, size: node.kind === 'file' ? node.size : 0, mtime: node.mtime, owner: node.owner, group: node.group, mode: node.mode };
}

/** Files at or below `root`: a walk of what lies there. */
export function countFiles(ns: Namespace, root = '/'): number {
  let count = 0;
  walkFiles(ns, root, () => count++);
  return count;
}

/** Every file's chunks at or below `path` with their live, stale and corrupt replicas (HDFS fsck, for OFS). */
/** `named`: whether the caller may learn a file's name (list its directory); a file it may not is counted, not named. */
export function fsck(ns: Namespace, view: ClusterView, settings: ReplicaSettings, path: string, now: number, named: (file: string) => boolean = () => true): ReplyOf<'master.fsck'> {
  if (!lookup(ns, path)) throw new OfsError('ENOENT', `${path} does not exist`);
  const files = new Map<string, FsckFile>();
  const nameable = new Map<string, boolean>();
  const summary = { files: 0, chunks: 0, healthy: 0, underReplicated: 0, missing: 0, stale: 0, corrupt: 0 };
  const owned = [...ownedChunks(ns, path)].sort(([, a], [, b]) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.index - b.index));
  for (const [chunkId, { path: file, index, version }] of owned) {
    const reported = view.reported(chunkId, now);
    const live = reported.filter((r) => r.version === version).map((r) => r.id);
    const stale = reported.filter((r) => r.version < version);
    const corrupt = view.corruptReplicas(chunkId);
    const status = version === 0 ? 'hole' : live.length === 0 ? 'missing' : live.length < settings.replication ? 'under-replicated' : 'healthy';
    if (!nameable.has(file)) nameable.set(file, named(file));
    if (nameable.get(file)) {
      if (!files.has(file)) files.set(file, { path: file, size: (lookup(ns, file) as FileNode).size, chunks: [] });
      files.get(file)!.chunks.push({ index, chunkId, version, live, stale, corrupt, status });
    }
    summary.chunks++;
    summary.stale += stale.length;
    summary.corrupt += corrupt.length;
    if (status === 'healthy') summary.healthy++;
    else if (status === 'under-replicated') summary.underReplicated++;
    else if (status === 'missing') summary.missing++;
  }
  summary.files = countFiles(ns, path);
  const listed = listedWithin([...files.values()]);
  return { files: listed, unlisted: files.size - listed.length, summary, replication: settings.replication };
}

/** A chunk fsck shows: short of live replicas or without one, or with stale or corrupt copies still about. */
export function needsAttention(chunk: Pick<FsckChunk, 'status' | 'stale' | 'corrupt'>): boolean {
  return chunk.status === 'under-replicated' || chunk.status === 'missing' || chunk.stale.length > 0 || chunk.corrupt.length > 0;
}

/**
 * JSON bytes of the files one fsck reply lists: inside a message header's
 * 1 MiB (envelope.ts) however many files lie below the path. The summary
 * counts them all.
 */
const FSCK_LISTED_BYTES = 512 * 1024;

/** The files an fsck reply lists, in path order: those with a chunk that needs attention first, then the others, up to FSCK_LISTED_BYTES. */
function listedWithin(files: FsckFile[]): FsckFile[] {
  const troubled = (file: FsckFile) => file.chunks.some(needsAttention);
  const listed: FsckFile[] = [];
  let bytes = 0;
  for (const file of [...files.filter(troubled), ...files.filter((f) => !troubled(f))]) {
    bytes += Buffer.byteLength(JSON.stringify(file));
    if (bytes > FSCK_LISTED_BYTES) break;
    listed.push(file);
  }
  return listed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The cluster part of `master.status`: live chunkservers and counts. The role adds who it is. */
export function clusterStatus(table: ChunkTable, view: ClusterView, settings: ReplicaSettings, now: number): Omit<ReplyOf<'master.status'>, 'master' | 'standby'> {
  return {
    chunkservers: view
      .liveServers(now)
      .sort((a, b) => a.id.localeCompare(b.id))
      .map(({ lastHeartbeat, ...load }) => ({ ...load, lastHeartbeatMs: Math.max(0, now - lastHeartbeat) })),
    chunkSize: settings.chunkSize,
    replication: settings.replication,
    files: table.files,
    chunks: table.chunks.size,
  };
}

/** Written chunks short of live replicas: a look at every chunk, so `master.status` counts them only when asked. */
export function countUnderReplicated(owners: ChunkOwners, view: ClusterView, settings: ReplicaSettings, now: number): number {
  let underReplicated = 0;
  for (const [chunkId, { version }] of owners) {
    // Version 0: a chunk under a hole, never written, on no server by design.
    if (version > 0 && view.holders(chunkId, version, now).length < settings.replication) underReplicated++;
  }
  return underReplicated;
}
