import { produce } from 'immer';
import { deleteEntry, emptyEntries, entriesAfter, getEntry, setEntry, type EntryTree } from './dir-entries.js';
import { OfsError } from './errors.js';
import type { MasterEvent } from './events.js';
import { pathComponents } from './paths.js';
import { legacyOwnership, SHARED_DIRECTORY, type Ownership } from './permissions.js';
import { emptyRetryCache, remember, type RetryCache } from './retry-cache.js';

export interface ChunkRef {
  id: string;
  version: number;
}

/** Every node has an owner, a group and a mode (permissions.ts). */
export interface FileNode extends Ownership {
  kind: 'file';
  size: number;
  mtime: number;
  chunks: ChunkRef[];
}

export interface DirNode extends Ownership {
  kind: 'dir';
  mtime: number;
  /**
   * A tree of directories rather than a flat path map, and each directory's
   * entries a B+tree of small nodes (`dir-entries.ts`): immer copies what it
   * changes, so a change costs the depth of the path times log of the
   * directory's size, not the size of the namespace or of the directory.
   */
  children: EntryTree<Node>;
}

export type Node = FileNode | DirNode;

export interface Namespace {
  /** Sequence number of the last applied event. */
  seq: number;
  /** Chunk ids are handed out from a journaled counter so they never repeat. */
  nextChunkId: number;
  root: DirNode;
  /** Ids of the latest completed mutating requests (`retry-cache.ts`). */
  recentRequests: RetryCache;
}

export const emptyNamespace: Namespace = {
  seq: 0,
  nextChunkId: 1,
  root: { kind: 'dir', mtime: 0, children: emptyEntries(), ...SHARED_DIRECTORY },
  recentRequests: emptyRetryCache,
};

export function lookup(ns: Namespace, path: string): Node | undefined {
  let node: Node = ns.root;
  for (const name of pathComponents(path)) {
    if (node.kind !== 'dir') return undefined;
    const child: Node | undefined = getEntry(node.children, name);
    if (!child) return undefined;
    node = child;
  }
  return node;
}

/**
 * `dir` with the node at `names[depth..]` replaced by what `change` makes of
 * it (undefined: removed): a copy of each directory on the way down and of
 * one path through each one's entries, sharing everything else.
 */
function changeAt(dir: DirNode, names: readonly string[], depth: number, change: (node: Node | undefined) => Node | undefined, path: string): DirNode {
  const name = names[depth]!;
  const child = getEntry(dir.children, name);
  if (depth < names.length - 1) {
    if (child?.kind !== 'dir') throw new OfsError('EINTERNAL', `invariant broken: event for ${path} but its parent is not a directory`);
    return { ...dir, children: setEntry(dir.children, name, changeAt(child, names, depth + 1, change, path)) };
  }
  const next = change(child);
  return { ...dir, children: next === undefined ? deleteEntry(dir.children, name) : setEntry(dir.children, name, next) };
}

function changeNode(root: DirNode, path: string, change: (node: Node | undefined) => Node | undefined): DirNode {
  return changeAt(root, pathComponents(path), 0, change, path);
}

function changeFile(root: DirNode, path: string, change: (file: FileNode) => FileNode): DirNode {
  return changeNode(root, path, (node) => {
    if (node?.kind !== 'file') throw new OfsError('EINTERNAL', `invariant broken: ${path} is not a file`);
    return change(node);
  });
}

/** A created node's owner, group and mode; an event from before permissions has none of them. */
function ownershipOf(kind: Node['kind'], event: Partial<Ownership>): Ownership {
  const legacy = legacyOwnership(kind);
  return { owner: event.owner ?? legacy.owner, group: event.group ?? legacy.group, mode: event.mode ?? legacy.mode };
}

/** The tree with the ownership of `path` (the root too: chmod / is an operator's right) changed. */
function changeOwnership(root: DirNode, path: string, change: (node: Node) => Partial<Ownership>): DirNode {
  if (path === '/') return { ...root, ...change(root) };
  return changeNode(root, path, (node) => {
    if (!node) throw new OfsError('EINTERNAL', `invariant broken: ownership of missing ${path} changed`);
    return { ...node, ...change(node) };
  });
}

/** The namespace tree after `event`. */
function nextRoot(ns: Namespace, event: MasterEvent): DirNode {
  switch (event.type) {
    case 'DirectoryCreated':
      return changeNode(ns.root, event.path, () => ({ kind: 'dir', mtime: event.mtime, children: emptyEntries(), ...ownershipOf('dir', event) }));
    case 'FileCreated':
      return changeNode(ns.root, event.path, () => ({ kind: 'file', size: 0, mtime: event.mtime, chunks: [], ...ownershipOf('file', event) }));
    case 'ModeChanged':
      return changeOwnership(ns.root, event.path, () => ({ mode: event.mode }));
    case 'OwnerChanged':
      return changeOwnership(ns.root, event.path, ({ owner, group }) => ({ owner: event.owner ?? owner, group: event.group ?? group }));
    case 'ChunkAllocated':
      return changeFile(ns.root, event.path, (file) => {
        checkAllocatedIndex(event, file.chunks.length);
        return withChunks(file, [...file.chunks, Object.freeze({ id: event.chunkId, version: event.version })]);
      });
    case 'ChunkVersionBumped':
      return changeFile(ns.root, event.path, (file) => {
        const chunk = file.chunks[event.index];
        if (chunk?.id !== event.chunkId) {
          throw new OfsError('EINTERNAL', `invariant broken: chunk ${event.index} of ${event.path} is not ${event.chunkId}`);
        }
        if (event.version < chunk.version) {
          throw new OfsError('EINTERNAL', `invariant broken: chunk ${event.chunkId} version would go down from ${chunk.version} to ${event.version}`);
        }
        const chunks = [...file.chunks]; // not slice(): V8 copies a frozen array ten times slower that way
        chunks[event.index] = Object.freeze({ ...chunk, version: event.version });
        return withChunks(file, chunks);
      });
    case 'FileExtended':
      return changeFile(ns.root, event.path, (file) =>
        produce(file, (draft) => {
          draft.size = Math.max(file.size, event.size);
          draft.mtime = event.mtime;
        }),
      );
    case 'NodeDeleted':
      return changeNode(ns.root, event.path, () => undefined);
    case 'NodeRenamed': {
      const node = lookup(ns, event.from);
      if (!node) throw new OfsError('EINTERNAL', `invariant broken: rename of missing ${event.from}`);
      return changeNode(changeNode(ns.root, event.from, () => undefined), event.to, () => ({ ...node, mtime: event.mtime }));
    }
  }
}

/**
 * The pure state transition. Commands are validated before their events are
 * journaled, so an event that does not fit the state is a bug, and apply says
 * which invariant broke instead of guessing. The tree is copied along one
 * path by `changeAt`, the retry cache by `remember`; immer makes a file's
 * record. The namespace itself is not put through immer: its finalize would
 * walk into every node it has not frozen (a loaded checkpoint's, say), and
 * its proxies over large directories' entry arrays cost more than the copy.
 */
export function apply(ns: Namespace, event: MasterEvent): Namespace {
  const counters = advance(ns, event);
  return { ...counters, root: nextRoot(ns, event) };
}

/** What every event changes besides the tree: the seq (checked to follow on), the chunk id counter, the retry cache. */
function advance(ns: Omit<Namespace, 'root'>, event: MasterEvent): Omit<Namespace, 'root'> {
  if (event.seq !== ns.seq + 1) {
    throw new OfsError('EINTERNAL', `invariant broken: event seq ${event.seq} applied after seq ${ns.seq}`);
  }
  const { requestId } = event;
  return {
    seq: event.seq,
    nextChunkId: event.type === 'ChunkAllocated' ? Math.max(ns.nextChunkId, parseInt(event.chunkId, 16) + 1) : ns.nextChunkId,
    recentRequests: requestId ? remember(ns.recentRequests, requestId, event.seq) : ns.recentRequests,
  };
}

export function applyAll(ns: Namespace, events: readonly MasterEvent[]): Namespace {
  let state = ns;
  for (let i = 0; i < events.length; ) ({ ns: state, end: i } = applyStep(state, events, i));
  return state;
}

type ChunkAllocated = Extract<MasterEvent, { type: 'ChunkAllocated' }>;

/**
 * Applies `events[from]`, or the run of chunk allocations of one file that
 * starts there, as one change; `end` is the index after it. A write far past
 * a file's end allocates every chunk up to it: event by event, each copied
 * the file's chunk list: 8,000 chunks took 6 s, and 40,000 would take minutes.
 */
export function applyStep(ns: Namespace, events: readonly MasterEvent[], from: number): { ns: Namespace; end: number } {
  const first = events[from]!;
  let end = from + 1;
  if (first.type === 'ChunkAllocated') {
    while (end < events.length && events[end]!.type === 'ChunkAllocated' && (events[end] as ChunkAllocated).path === first.path) end++;
  }
  if (end - from === 1) return { ns: apply(ns, first), end };
  return { ns: applyAllocations(ns, events.slice(from, end) as ChunkAllocated[]), end };
}

/** What `apply` makes of each of `run` in turn, with one copy of the file's chunk list. */
function applyAllocations(ns: Namespace, run: readonly ChunkAllocated[]): Namespace {
  const counters = run.reduce<Omit<Namespace, 'root'>>(advance, ns);
  const root = changeFile(ns.root, run[0]!.path, (file) => {
    run.forEach((event, i) => checkAllocatedIndex(event, file.chunks.length + i));
    const added = run.map((event) => Object.freeze({ id: event.chunkId, version: event.version }));
    return withChunks(file, [...file.chunks, ...added]);
  });
  return { ...counters, root };
}

/**
 * `file` with a new chunk list, frozen as immer leaves what it makes. Not
 * through immer: a draft of the list made each change to it walk every
 * chunk, and a version bump (every lease) on a file of 60,000 chunks took
 * 9.6 ms; as a spread copy, 0.76 ms. Frozen, the list is not walked by a
 * later produce on the file (FileExtended).
 */
function withChunks(file: FileNode, chunks: ChunkRef[]): FileNode {
  return Object.freeze({ ...file, chunks: Object.freeze(chunks) as ChunkRef[] });
}

function checkAllocatedIndex(event: ChunkAllocated, chunks: number): void {
  if (event.index !== chunks) throw new OfsError('EINTERNAL', `invariant broken: chunk ${event.index} of ${event.path} allocated, but it has ${chunks}`);
}

/** Calls `visit` for every file at or below `path`, with its path. O(what lies below `path`). */
export function walkFiles(ns: Namespace, path: string, visit: (path: string, file: FileNode) => void): void {
  const walk = (node: Node, at: string): void => {
    if (node.kind === 'file') visit(at, node);
    else for (const [name, child] of entriesAfter(node.children)) walk(child, at === '/' ? `/${name}` : `${at}/${name}`);
  };
  const start = lookup(ns, path);
  if (start) walk(start, path);
}

export interface ChunkOwner {
  path: string;
  index: number;
  version: number;
}

export type ChunkOwners = ReadonlyMap<string, ChunkOwner>;

/** Every chunk a file at or below `path` refers to, by a walk: the master keeps the whole table incrementally (`chunk-table.ts`). */
export function ownedChunks(ns: Namespace, path = '/'): Map<string, ChunkOwner> {
  const owned = new Map<string, ChunkOwner>();
  walkFiles(ns, path, (at, file) => file.chunks.forEach((c, index) => owned.set(c.id, { path: at, index, version: c.version })));
  return owned;
}
