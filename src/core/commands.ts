import { formatChunkId } from './chunk-id.js';
import { entryCount, entryNames } from './dir-entries.js';
import { OfsError } from './errors.js';
import type { UnsequencedEvent } from './events.js';
import { lookup, type Namespace } from './namespace.js';
import { isSameOrBelow, joinPath, parentPath, pathComponents } from './paths.js';

/**
 * Commands in, events out: each function checks a request against the
 * namespace and returns the events that carry it out, or throws an OfsError
 * that names the problem. Nothing here touches a disk, a clock or a socket;
 * the caller passes `now` and journals what comes back.
 */

/** The events that create every missing directory on the way to `path`. */
function ensureDirectories(ns: Namespace, path: string, now: number): UnsequencedEvent[] {
  const events: UnsequencedEvent[] = [];
  let current = '/';
  for (const name of pathComponents(path)) {
    current = joinPath(current, name);
    const node = lookup(ns, current);
    if (node?.kind === 'file') throw new OfsError('ENOTDIR', `${current} is a file, not a directory`);
    if (!node) events.push({ type: 'DirectoryCreated', path: current, mtime: now });
  }
  return events;
}

function requireParentDirectory(ns: Namespace, path: string): void {
  const parent = parentPath(path);
  const node = lookup(ns, parent);
  if (!node) throw new OfsError('ENOENT', `parent directory ${parent} does not exist (use mkdir -p)`);
  if (node.kind !== 'dir') throw new OfsError('ENOTDIR', `${parent} is a file, not a directory`);
}

export function decideMkdir(ns: Namespace, path: string, parents: boolean, now: number): UnsequencedEvent[] {
  const existing = lookup(ns, path);
  if (existing) {
    if (existing.kind === 'dir' && parents) return [];
    throw new OfsError('EEXIST', `${path} already exists`);
  }
  if (parents) return ensureDirectories(ns, path, now);
  requireParentDirectory(ns, path);
  return [{ type: 'DirectoryCreated', path, mtime: now }];
}

/** Like HDFS `create`: missing parent directories are made on the way. */
export function decideCreate(ns: Namespace, path: string, overwrite: boolean, now: number): UnsequencedEvent[] {
  if (path === '/') throw new OfsError('EISDIR', '/ is a directory');
  const existing = lookup(ns, path);
  if (existing?.kind === 'dir') throw new OfsError('EISDIR', `${path} is a directory`);
  if (existing && !overwrite) throw new OfsError('EEXIST', `${path} already exists`);
  return [...ensureDirectories(ns, parentPath(path), now), { type: 'FileCreated', path, mtime: now }];
}

function requireFile(ns: Namespace, path: string) {
  const node = lookup(ns, path);
  if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
  if (node.kind !== 'file') throw new OfsError('EISDIR', `${path} is a directory`);
  return node;
}

/** The largest chunk index a file may have: bounds what one request can make the master allocate. */
export const MAX_CHUNKS_PER_FILE = 1 << 20;

/**
 * Allocates every chunk of `path` up to `index` that does not exist yet (a
 * write past the end, or an append that filled the last chunk). New chunks are
 * at version 0, on no chunkserver: their first lease creates the replicas.
 */
export function decideChunksUpTo(ns: Namespace, path: string, index: number): UnsequencedEvent[] {
  const file = requireFile(ns, path);
  if (index >= MAX_CHUNKS_PER_FILE) throw new OfsError('EINVAL', `chunk ${index} of ${path} is beyond the ${MAX_CHUNKS_PER_FILE}-chunk limit`);
  const events: UnsequencedEvent[] = [];
  for (let i = file.chunks.length; i <= index; i++) {
    events.push({ type: 'ChunkAllocated', path, index: i, chunkId: formatChunkId(ns.nextChunkId + events.length), version: 0 });
  }
  return events;
}

/** Records that `path` is at least `size` bytes; nothing when it already is. */
export function decideExtend(ns: Namespace, path: string, size: number, chunkSize: number, now: number): UnsequencedEvent[] {
  const file = requireFile(ns, path);
  if (size > file.chunks.length * chunkSize) {
    throw new OfsError('EINVAL', `${path}: size ${size} lies beyond its ${file.chunks.length} allocated chunks`);
  }
  return size > file.size ? [{ type: 'FileExtended', path, size, mtime: now }] : [];
}

/** Deleted paths wait here, under a directory named for when they were deleted, until GC (HDFS's trash). */
export const TRASH = '/.trash';

/**
 * `rm`: moves the path into the trash (recoverable with undelete until the
 * GC interval passes). Deleting inside the trash deletes for good.
 */
export function decideDelete(ns: Namespace, path: string, recursive: boolean, now: number): UnsequencedEvent[] {
  if (path === '/') throw new OfsError('EINVAL', 'refusing to delete /');
  const node = lookup(ns, path);
  if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
  if (node.kind === 'dir' && !recursive && entryCount(node.children) > 0) {
    throw new OfsError('ENOTEMPTY', `${path} is a non-empty directory (use rm -r)`);
  }
  if (isSameOrBelow(path, TRASH)) return [{ type: 'NodeDeleted', path }];
  const trashed = `${TRASH}/${now}-${ns.seq + 1}${path}`;
  return [...ensureDirectories(ns, parentPath(trashed), now), { type: 'NodeRenamed', from: path, to: trashed, mtime: now }];
}

/** Brings back the most recently deleted `path` from the trash. */
export function decideUndelete(ns: Namespace, path: string, now: number): UnsequencedEvent[] {
  if (isSameOrBelow(path, TRASH)) throw new OfsError('EINVAL', `${path} is in the trash itself`);
  const trash = lookup(ns, TRASH);
  const stamps = trash?.kind === 'dir' ? [...entryNames(trash.children)].sort((a, b) => parseFloat(b) - parseFloat(a)) : [];
  const from = stamps.map((stamp) => `${TRASH}/${stamp}${path}`).find((candidate) => lookup(ns, candidate));
  if (!from) throw new OfsError('ENOENT', `${path} is not in the trash (never deleted, or garbage-collected already)`);
  if (lookup(ns, path)) throw new OfsError('EEXIST', `${path} exists again; move it away before undeleting`);
  return [...ensureDirectories(ns, parentPath(path), now), { type: 'NodeRenamed', from, to: path, mtime: now }];
}

/** The trash directories older than `keepMs`: deleted for good by the GC. */
export function decideCollectGarbage(ns: Namespace, now: number, keepMs: number): UnsequencedEvent[] {
  const trash = lookup(ns, TRASH);
  if (trash?.kind !== 'dir') return [];
  return [...entryNames(trash.children)]
    .filter((stamp) => parseFloat(stamp) + keepMs <= now)
    .map((stamp) => ({ type: 'NodeDeleted', path: `${TRASH}/${stamp}` }));
}

export function decideRename(ns: Namespace, from: string, to: string, now: number): UnsequencedEvent[] {
  if (from === '/' || to === '/') throw new OfsError('EINVAL', 'cannot rename / or rename onto /');
  if (!lookup(ns, from)) throw new OfsError('ENOENT', `${from} does not exist`);
  if (isSameOrBelow(to, from)) throw new OfsError('EINVAL', `cannot move ${from} into itself (${to})`);
  if (lookup(ns, to)) throw new OfsError('EEXIST', `${to} already exists`);
  requireParentDirectory(ns, to);
  return [{ type: 'NodeRenamed', from, to, mtime: now }];
}
