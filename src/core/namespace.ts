import { produce } from 'immer';
import { OfsError } from './errors.js';
import type { MasterEvent } from './events.js';
import { baseName, parentPath, pathComponents } from './paths.js';
import { emptyRetryCache, remember, type RetryCache } from './retry-cache.js';

export interface ChunkRef {
  id: string;
  version: number;
}

export interface FileNode {
  kind: 'file';
  size: number;
  mtime: number;
  chunks: ChunkRef[];
}

export interface DirNode {
  kind: 'dir';
  mtime: number;
  /**
   * A tree rather than a flat path map: immer copies what it changes, so a
   * change costs the depth of the path, not the size of the namespace.
   */
  children: Record<string, Node>;
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
  root: { kind: 'dir', mtime: 0, children: {} },
  recentRequests: emptyRetryCache,
};

export function lookup(ns: Namespace, path: string): Node | undefined {
  let node: Node = ns.root;
  for (const name of pathComponents(path)) {
    if (node.kind !== 'dir') return undefined;
    const child: Node | undefined = node.children[name];
    if (!child) return undefined;
    node = child;
  }
  return node;
}

export function formatChunkId(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** Mutable-draft helper for apply: the parent dir of `path`, which must exist. */
function parentDraft(root: DirNode, path: string): DirNode {
  let node: Node = root;
  for (const name of pathComponents(parentPath(path))) {
    const child: Node | undefined = node.kind === 'dir' ? node.children[name] : undefined;
    if (!child || child.kind !== 'dir') {
      throw new OfsError('EINTERNAL', `invariant broken: event for ${path} but its parent is not a directory`);
    }
    node = child;
  }
  if (node.kind !== 'dir') throw new OfsError('EINTERNAL', `invariant broken: parent of ${path} is a file`);
  return node;
}

function fileDraft(root: DirNode, path: string): FileNode {
  const node = parentDraft(root, path).children[baseName(path)];
  if (!node || node.kind !== 'file') throw new OfsError('EINTERNAL', `invariant broken: ${path} is not a file`);
  return node;
}

/**
 * The pure state transition. Commands are validated before their events are
 * journaled, so an event that does not fit the state is a bug, and apply says
 * which invariant broke instead of guessing.
 */
export function apply(ns: Namespace, event: MasterEvent): Namespace {
  if (event.seq !== ns.seq + 1) {
    throw new OfsError('EINTERNAL', `invariant broken: event seq ${event.seq} applied after seq ${ns.seq}`);
  }
  return produce(ns, (draft) => {
    draft.seq = event.seq;
    if (event.requestId) remember(draft.recentRequests, event.requestId, event.seq);
    switch (event.type) {
      case 'DirectoryCreated':
        parentDraft(draft.root, event.path).children[baseName(event.path)] = {
          kind: 'dir',
          mtime: event.mtime,
          children: {},
        };
        break;
      case 'FileCreated':
        parentDraft(draft.root, event.path).children[baseName(event.path)] = {
          kind: 'file',
          size: 0,
          mtime: event.mtime,
          chunks: [],
        };
        break;
      case 'ChunkAllocated': {
        const file = fileDraft(draft.root, event.path);
        if (event.index !== file.chunks.length) {
          throw new OfsError('EINTERNAL', `invariant broken: chunk ${event.index} of ${event.path} allocated, but it has ${file.chunks.length}`);
        }
        file.chunks.push({ id: event.chunkId, version: event.version });
        draft.nextChunkId = Math.max(draft.nextChunkId, parseInt(event.chunkId, 16) + 1);
        break;
      }
      case 'ChunkVersionBumped': {
        const chunk = fileDraft(draft.root, event.path).chunks[event.index];
        if (chunk?.id !== event.chunkId) {
          throw new OfsError('EINTERNAL', `invariant broken: chunk ${event.index} of ${event.path} is not ${event.chunkId}`);
        }
        if (event.version < chunk.version) {
          throw new OfsError('EINTERNAL', `invariant broken: chunk ${event.chunkId} version would go down from ${chunk.version} to ${event.version}`);
        }
        chunk.version = event.version;
        break;
      }
      case 'FileExtended': {
        const file = fileDraft(draft.root, event.path);
        file.size = Math.max(file.size, event.size);
        file.mtime = event.mtime;
        break;
      }
      case 'NodeDeleted':
        delete parentDraft(draft.root, event.path).children[baseName(event.path)];
        break;
      case 'NodeRenamed': {
        const from = parentDraft(draft.root, event.from);
        const node = from.children[baseName(event.from)];
        if (!node) throw new OfsError('EINTERNAL', `invariant broken: rename of missing ${event.from}`);
        delete from.children[baseName(event.from)];
        parentDraft(draft.root, event.to).children[baseName(event.to)] = node;
        node.mtime = event.mtime;
        break;
      }
    }
  });
}

export function applyAll(ns: Namespace, events: readonly MasterEvent[]): Namespace {
  return events.reduce(apply, ns);
}

export type ChunkOwners = Map<string, { path: string; index: number; version: number }>;

/** Every chunk a file at or below `path` refers to (all of them by default): anything else on a chunkserver is garbage. */
export function ownedChunks(ns: Namespace, path = '/'): ChunkOwners {
  const owned: ChunkOwners = new Map();
  const visit = (node: Node, at: string): void => {
    if (node.kind === 'file') node.chunks.forEach((c, index) => owned.set(c.id, { path: at, index, version: c.version }));
    else for (const [name, child] of Object.entries(node.children)) visit(child, at === '/' ? `/${name}` : `${at}/${name}`);
  };
  const start = lookup(ns, path);
  if (start) visit(start, path);
  return owned;
}
