import { chunkNumbersFor, formatChunkId } from './chunk-id.js';
import { entryCount, entryNames } from './dir-entries.js';
import { OfsError } from './errors.js';
import type { UnsequencedEvent } from './events.js';
import { lookup, type DirNode, type Namespace } from './namespace.js';
import {
  authorize, authorizeChmod, authorizeChown, checkName, DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, DELETION_DIRECTORY_MODE, EXECUTE, MAX_MODE, TRASH_DIRECTORY, WRITE,
  type Caller, type Ownership,
} from './permissions.js';
import { isSameOrBelow, joinPath, parentPath, pathComponents } from './paths.js';

/**
 * Commands in, events out: each function checks a request against the
 * namespace and returns the events that carry it out, or throws an OfsError
 * that names the problem. Nothing here touches a disk, a clock or a socket;
 * the caller passes `now` and journals what comes back.
 */

/** What a create or mkdir makes: owned by the caller, in the group of the directory it is made in (HDFS's rule). */
function made(caller: Caller, parent: Ownership, mode: number): Ownership {
  return { owner: caller.user, group: parent.group, mode };
}

/** The events that create every missing directory on the way to `path` (with the default mode, as HDFS makes parents). */
function ensureDirectories(ns: Namespace, path: string, now: number, caller: Caller): UnsequencedEvent[] {
  const events: UnsequencedEvent[] = [];
  let current = '/';
  let parent: Ownership = ns.root;
  for (const name of pathComponents(path)) {
    current = joinPath(current, name);
    const node = lookup(ns, current);
    if (node?.kind === 'file') throw new OfsError('ENOTDIR', `${current} is a file, not a directory`);
    if (node) {
      parent = node;
      continue;
    }
    const dir = made(caller, parent, DEFAULT_DIR_MODE);
    events.push({ type: 'DirectoryCreated', path: current, mtime: now, ...dir });
    parent = dir;
  }
  return events;
}

function requireParentDirectory(ns: Namespace, path: string): DirNode {
  const parent = parentPath(path);
  const node = lookup(ns, parent);
  if (!node) throw new OfsError('ENOENT', `parent directory ${parent} does not exist (use mkdir -p)`);
  if (node.kind !== 'dir') throw new OfsError('ENOTDIR', `${parent} is a file, not a directory`);
  return node;
}

/** A directory or file being made with `mode`, or the default one. */
function modeOr(mode: number | undefined, fallback: number): number {
  if (mode !== undefined && !(Number.isInteger(mode) && mode >= 0 && mode <= MAX_MODE)) throw new OfsError('EINVAL', `invalid mode ${mode}: 0 to 0o7777`);
  return mode ?? fallback;
}

/** mkdir needs w and x on the directory it makes its first new directory in. */
export function decideMkdir(ns: Namespace, path: string, parents: boolean, now: number, caller: Caller, mode?: number): UnsequencedEvent[] {
  const existing = lookup(ns, path);
  if (existing?.kind === 'dir' && parents) {
    // mkdir -p of a directory there already makes nothing: it needs no more than a stat (HDFS's rule).
    authorize(ns.root, path, caller);
    return [];
  }
  authorize(ns.root, path, caller, { ancestor: WRITE | EXECUTE });
  if (existing) throw new OfsError('EEXIST', `${path} already exists`);
  const dirMode = modeOr(mode, DEFAULT_DIR_MODE);
  if (parents) {
    const events = ensureDirectories(ns, path, now, caller);
    return [...events.slice(0, -1), { ...events.at(-1)!, mode: dirMode } as UnsequencedEvent];
  }
  const parent = requireParentDirectory(ns, path);
  return [{ type: 'DirectoryCreated', path, mtime: now, ...made(caller, parent, dirMode) }];
}

/**
 * Like HDFS `create`: missing parent directories are made on the way. It
 * needs w and x where the first new node goes and, to replace a file, w on
 * that file. The file made is the caller's (a replaced one too).
 */
export function decideCreate(ns: Namespace, path: string, overwrite: boolean, now: number, caller: Caller, mode?: number): UnsequencedEvent[] {
  if (path === '/') throw new OfsError('EISDIR', '/ is a directory');
  authorize(ns.root, path, caller, { ancestor: WRITE | EXECUTE, self: overwrite ? WRITE : undefined });
  const existing = lookup(ns, path);
  if (existing?.kind === 'dir') throw new OfsError('EISDIR', `${path} is a directory`);
  if (existing && !overwrite) throw new OfsError('EEXIST', `${path} already exists`);
  const parents = ensureDirectories(ns, parentPath(path), now, caller);
  const parent = (parents.at(-1) as Ownership | undefined) ?? (lookup(ns, parentPath(path)) as DirNode);
  return [...parents, { type: 'FileCreated', path, mtime: now, ...made(caller, parent, modeOr(mode, DEFAULT_FILE_MODE)) }];
}

/** Writing a file (a lease on its chunks, allocating them, extending it) needs w on it. */
export function authorizeWrite(ns: Namespace, path: string, caller: Caller): void {
  authorize(ns.root, path, caller, { self: WRITE });
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
 * Their ids are from the range of the master's `epoch` (`chunkNumbersFor`).
 */
export function decideChunksUpTo(ns: Namespace, path: string, index: number, epoch: number): UnsequencedEvent[] {
  const file = requireFile(ns, path);
  if (index >= MAX_CHUNKS_PER_FILE) throw new OfsError('EINVAL', `chunk ${index} of ${path} is beyond the ${MAX_CHUNKS_PER_FILE}-chunk limit`);
  const count = Math.max(0, index + 1 - file.chunks.length);
  if (count === 0) return [];
  const first = chunkNumbersFor(epoch, ns.nextChunkId, count);
  return Array.from({ length: count }, (_, n): UnsequencedEvent => ({ type: 'ChunkAllocated', path, index: file.chunks.length + n, chunkId: formatChunkId(first + n), version: 0 }));
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
export function decideDelete(ns: Namespace, path: string, recursive: boolean, now: number, caller: Caller): UnsequencedEvent[] {
  if (path === '/') throw new OfsError('EINVAL', 'refusing to delete /');
  const node = lookup(ns, path);
  // w and x on the parent, the sticky rule, and (POSIX's rule for emptying it) w and x on a non-empty
  // directory itself. Deeper levels are not looked at: HDFS's check of the whole subtree is a walk.
  const nonEmpty = node?.kind === 'dir' && entryCount(node.children) > 0;
  authorize(ns.root, path, caller, { parent: WRITE | EXECUTE, unlink: true, self: nonEmpty ? WRITE | EXECUTE : undefined });
  if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
  if (node.kind === 'dir' && !recursive && entryCount(node.children) > 0) {
    throw new OfsError('ENOTEMPTY', `${path} is a non-empty directory (use rm -r)`);
  }
  if (isSameOrBelow(path, TRASH)) return [{ type: 'NodeDeleted', path }];
  const deletion = `${TRASH}/${now}-${ns.seq + 1}`;
  const trashed = `${deletion}${path}`;
  // The trash is the master's; a deletion's own directory there, and what lies under it, the deleter's.
  const dirs = ensureDirectories(ns, parentPath(trashed), now, caller).map((e) => {
    if (e.type !== 'DirectoryCreated') return e;
    if (e.path === TRASH) return { ...e, ...TRASH_DIRECTORY };
    return e.path === deletion ? { ...e, mode: DELETION_DIRECTORY_MODE } : e;
  });
  return [...dirs, { type: 'NodeRenamed', from: path, to: trashed, mtime: now }];
}

/** Brings back the caller's most recent deletion of `path` from the trash (anyone's, for the superuser). */
export function decideUndelete(ns: Namespace, path: string, now: number, caller: Caller): UnsequencedEvent[] {
  if (isSameOrBelow(path, TRASH)) throw new OfsError('EINVAL', `${path} is in the trash itself`);
  const trash = lookup(ns, TRASH);
  const stamps = trash?.kind === 'dir' ? [...entryNames(trash.children)].sort((a, b) => parseFloat(b) - parseFloat(a)) : [];
  const mine = (stamp: string) => caller.superuser || lookup(ns, `${TRASH}/${stamp}`)?.owner === caller.user;
  const from = stamps.filter(mine).map((stamp) => `${TRASH}/${stamp}${path}`).find((candidate) => lookup(ns, candidate));
  if (!from) throw new OfsError('ENOENT', `${path} is not in the trash (never deleted, or garbage-collected already)`);
  // A rename out of the trash: only who may remove it there (its deleter) and may make it here.
  authorize(ns.root, from, caller, { parent: WRITE | EXECUTE, unlink: true });
  authorize(ns.root, path, caller, { ancestor: WRITE | EXECUTE });
  if (lookup(ns, path)) throw new OfsError('EEXIST', `${path} exists again; move it away before undeleting`);
  return [...ensureDirectories(ns, parentPath(path), now, caller), { type: 'NodeRenamed', from, to: path, mtime: now }];
}

/** The trash directories older than `keepMs`: deleted for good by the GC. */
export function decideCollectGarbage(ns: Namespace, now: number, keepMs: number): UnsequencedEvent[] {
  const trash = lookup(ns, TRASH);
  if (trash?.kind !== 'dir') return [];
  return [...entryNames(trash.children)]
    .filter((stamp) => parseFloat(stamp) + keepMs <= now)
    .map((stamp) => ({ type: 'NodeDeleted', path: `${TRASH}/${stamp}` }));
}

/** rename needs w and x on both parents, and the sticky rule where it leaves. */
export function decideRename(ns: Namespace, from: string, to: string, now: number, caller: Caller): UnsequencedEvent[] {
  if (from === '/' || to === '/') throw new OfsError('EINVAL', 'cannot rename / or rename onto /');
  authorize(ns.root, from, caller, { parent: WRITE | EXECUTE, unlink: true });
  authorize(ns.root, to, caller, { parent: WRITE | EXECUTE });
  if (!lookup(ns, from)) throw new OfsError('ENOENT', `${from} does not exist`);
  if (isSameOrBelow(to, from)) throw new OfsError('EINVAL', `cannot move ${from} into itself (${to})`);
  if (lookup(ns, to)) throw new OfsError('EEXIST', `${to} already exists`);
  requireParentDirectory(ns, to);
  return [{ type: 'NodeRenamed', from, to, mtime: now }];
}

/** chmod: by the node's owner or the superuser; the mode is the 12 POSIX bits. */
export function decideChmod(ns: Namespace, path: string, mode: number, caller: Caller): UnsequencedEvent[] {
  authorize(ns.root, path, caller);
  const node = lookup(ns, path);
  if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
  authorizeChmod(path, node, caller);
  return [{ type: 'ModeChanged', path, mode: modeOr(mode, 0) }];
}

/**
 * chown OWNER[:GROUP] or :GROUP. Any well-formed name is taken, as HDFS
 * does: the master does not know every user a cluster will have.
 */
export function decideChown(ns: Namespace, path: string, owner: string | undefined, group: string | undefined, caller: Caller): UnsequencedEvent[] {
  if (owner === undefined && group === undefined) throw new OfsError('EINVAL', 'chown needs an owner, a group, or both');
  if (owner !== undefined) checkName('user', owner);
  if (group !== undefined) checkName('group', group);
  authorize(ns.root, path, caller);
  const node = lookup(ns, path);
  if (!node) throw new OfsError('ENOENT', `${path} does not exist`);
  authorizeChown(path, node, caller, owner, group);
  return [{ type: 'OwnerChanged', path, ...(owner === undefined ? {} : { owner }), ...(group === undefined ? {} : { group }) }];
}
