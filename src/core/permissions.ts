import { getEntry } from './dir-entries.js';
import { OfsError } from './errors.js';
import type { DirNode, Node } from './namespace.js';
import { pathComponents } from './paths.js';

/**
 * Owners, groups and POSIX modes, checked as HDFS checks them (its
 * FSPermissionChecker): the master is the only place a check happens, for
 * the user its RPC server verified. Pure: a check is a look at the nodes on
 * one path, O(depth), never a walk of what lies below.
 */

/** Who sent a request, as the master's RPC server verified it (never what the request says). */
export interface Caller {
  user: string;
  groups: readonly string[];
  /** HDFS's superuser: no check applies to it. */
  superuser: boolean;
}

export interface Ownership {
  owner: string;
  group: string;
  /** The 12 POSIX bits: setuid, setgid (both kept, meaningless here), sticky, then rwx for owner, group, others. */
  mode: number;
}

/** The superuser's name: the operator key's user, owner of the root and of what older OFS versions made. */
export const SUPERUSER = 'operator';
export const SUPERGROUP = 'supergroup';
/** A caller no check applies to: every caller when security is off (no identity: README, "Security"), and the master's own requests. */
/**
 * A request that proves no identity: one on a chunkserver's data socket,
 * where a capability token is the only credential (a bearer's).
 */
export const BEARER: Caller = { user: '', groups: [], superuser: false };

export const UNCHECKED: Caller = { user: SUPERUSER, groups: [SUPERGROUP], superuser: true };

export const READ = 4;
export const WRITE = 2;
export const EXECUTE = 1;
export const STICKY = 0o1000;
export const MAX_MODE = 0o7777;
/** 0777 and 0666 under the usual umask 022. */
export const DEFAULT_DIR_MODE = 0o755;
export const DEFAULT_FILE_MODE = 0o644;

/**
 * The root is everyone's, as /tmp is: anyone may make an
 * entry there, and only its owner (or the superuser) may remove or rename
 * it (the sticky bit). A root of 0755 would leave a new cluster writable by
 * the operator alone.
 */
export const SHARED_DIRECTORY: Ownership = { owner: SUPERUSER, group: SUPERGROUP, mode: 0o1777 };

/**
 * The trash: only the master makes entries in it (a deletion's directory,
 * the deleter's and 0700, so what was private stays private there), and
 * anyone may pass through to their own: nobody can list it, or plant a
 * deletion for another user to undelete.
 */
export const TRASH_DIRECTORY: Ownership = { owner: SUPERUSER, group: SUPERGROUP, mode: 0o711 };
/** A deletion's own directory in the trash, `/.trash/STAMP`: its deleter's alone. */
export const DELETION_DIRECTORY_MODE = 0o700;

/** A node an older OFS made, with no owner recorded: the superuser's, with the default mode. */
export function legacyOwnership(kind: Node['kind']): Ownership {
  return { owner: SUPERUSER, group: SUPERGROUP, mode: kind === 'dir' ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE };
}

/** A user or group name: what `ofs keys add-user` and chown accept (HDFS takes any name; so does chown here, if it looks like one). */
export const NAME_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;

export function checkName(kind: 'user' | 'group', name: string): string {
  if (!NAME_PATTERN.test(name)) throw new OfsError('EINVAL', `invalid ${kind} name ${JSON.stringify(name.slice(0, 40))}: 1 to 32 of a-z, 0-9, _ and -, not starting with a digit or -`);
  return name;
}

/** An octal mode as `chmod` takes it (`750`, `1777`). Symbolic modes (`u+x`) are not taken. */
export function parseMode(text: string): number {
  if (!/^[0-7]{1,4}$/.test(text)) throw new OfsError('EINVAL', `invalid mode ${JSON.stringify(text.slice(0, 20))}: give 1 to 4 octal digits, such as 750 or 1777`);
  return parseInt(text, 8);
}

/** `drwxr-xr-x` as ls prints it: `t`/`T` for the sticky bit, `s`/`S` for setuid and setgid. */
export function formatMode(kind: Node['kind'], mode: number): string {
  const triple = (bits: number, special: boolean, mark: string) =>
    `${bits & READ ? 'r' : '-'}${bits & WRITE ? 'w' : '-'}${special ? (bits & EXECUTE ? mark : mark.toUpperCase()) : bits & EXECUTE ? 'x' : '-'}`;
  return (
    (kind === 'dir' ? 'd' : '-') +
    triple(mode >> 6, (mode & 0o4000) !== 0, 's') +
    triple(mode >> 3, (mode & 0o2000) !== 0, 's') +
    triple(mode, (mode & STICKY) !== 0, 't')
  );
}

/** The rwx bits `caller` has on `node`: its class is owner, else group, else others (POSIX: the first that matches, alone). */
function bitsFor(node: Ownership, caller: Caller): number {
  if (caller.user === node.owner) return (node.mode >> 6) & 7;
  if (caller.groups.includes(node.group)) return (node.mode >> 3) & 7;
  return node.mode & 7;
}

function letters(bits: number): string {
  return `${bits & READ ? 'r' : ''}${bits & WRITE ? 'w' : ''}${bits & EXECUTE ? 'x' : ''}`;
}

const VERBS: Record<number, string> = { [READ]: 'read', [WRITE]: 'write', [EXECUTE]: 'traverse', [WRITE | EXECUTE]: 'write in', [READ | EXECUTE]: 'list' };

function refusal(caller: Caller, verb: string, path: string, node: Node, why: string): OfsError {
  return new OfsError('EACCES', `user ${caller.user} may not ${verb} ${path} (${why}; owner ${node.owner}, group ${node.group}, mode ${formatMode(node.kind, node.mode)})`);
}

function demand(caller: Caller, node: Node, path: string, bits: number): void {
  if ((bitsFor(node, caller) & bits) !== bits) throw refusal(caller, VERBS[bits] ?? `use (${letters(bits)})`, path, node, `needs ${letters(bits)}`);
}

/** What an operation needs beyond traversing (x on) every existing directory above its path. */
export interface Need {
  /** On the deepest directory above the path that exists: where mkdir -p and create make what is missing. */
  ancestor?: number;
  /** On the path's parent directory, when it exists (when not, the operation fails with ENOENT anyway). */
  parent?: number;
  /** On the node itself, when it exists. */
  self?: number;
  /** The entry is removed from its parent: a sticky parent lets only the entry's owner or the parent's do that. */
  unlink?: boolean;
}

/** Whether `caller` may do what `need` says at `path` (authorize, as a yes or no). */
export function permits(root: DirNode, path: string, caller: Caller, need: Need = {}): boolean {
  try {
    authorize(root, path, caller, need);
    return true;
  } catch (err) {
    if ((err as OfsError).code === 'EACCES') return false;
    throw err;
  }
}

/**
 * Throws EACCES naming the user, the path and what is missing unless
 * `caller` may do what `need` says at `path`. A path that does not exist, or
 * runs through a file, is not refused here: the operation says ENOENT or
 * ENOTDIR, as HDFS does, once the caller was allowed to look.
 */
export function authorize(root: DirNode, path: string, caller: Caller, need: Need = {}): void {
  if (caller.superuser) return;
  const names = pathComponents(path);
  // The existing nodes from the root down the path (a file ends it: nothing lies below one).
  const chain: Node[] = [root];
  let at = '/';
  const paths = ['/'];
  for (const name of names) {
    const last = chain.at(-1)!;
    if (last.kind !== 'dir') break;
    demand(caller, last, at, EXECUTE);
    const child = getEntry(last.children, name);
    if (!child) break;
    chain.push(child);
    at = at === '/' ? `/${name}` : `${at}/${name}`;
    paths.push(at);
  }
  const depth = names.length;
  const exists = chain.length === depth + 1;
  if (need.ancestor !== undefined) {
    const index = Math.min(chain.length - 1, depth - 1);
    if (index >= 0 && chain[index]!.kind === 'dir') demand(caller, chain[index]!, paths[index]!, need.ancestor);
  }
  const parent = depth > 0 && chain.length >= depth ? chain[depth - 1] : undefined;
  if (need.parent !== undefined && parent?.kind === 'dir') demand(caller, parent, paths[depth - 1]!, need.parent);
  const node = exists ? chain[depth]! : undefined;
  if (need.self !== undefined && node) demand(caller, node, path, need.self);
  if (need.unlink && node && parent && parent.mode & STICKY && caller.user !== parent.owner && caller.user !== node.owner) {
    throw refusal(caller, 'remove or rename', path, node, `${paths[depth - 1]} is sticky (mode ${formatMode('dir', parent.mode)}, owner ${parent.owner}): only its owner or the entry's may`);
  }
}

/** chmod, once `authorize` let the caller traverse to `node`: its owner or the superuser. */
export function authorizeChmod(path: string, node: Node, caller: Caller): void {
  if (!caller.superuser && caller.user !== node.owner) throw refusal(caller, 'chmod', path, node, 'only its owner or the superuser may');
}

/**
 * chown, once `authorize` let the caller traverse to `node` (HDFS's
 * setOwner): the superuser may do anything; anyone else must own the node,
 * may name no owner but itself, and may give it only a group it is in.
 */
export function authorizeChown(path: string, node: Node, caller: Caller, owner: string | undefined, group: string | undefined): void {
  if (caller.superuser) return;
  if (caller.user !== node.owner) throw refusal(caller, 'chown', path, node, 'only its owner or the superuser may');
  if (owner !== undefined && owner !== caller.user) throw refusal(caller, `give ${owner}`, path, node, 'only the superuser may change an owner');
  if (group !== undefined && !caller.groups.includes(group)) throw refusal(caller, `give group ${group}`, path, node, `${caller.user} is not in group ${group}`);
}
