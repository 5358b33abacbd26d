import { z } from 'zod';
import { ChunkTable, type TrackedNamespace } from './chunk-table.js';
import { isChunkId } from './chunk-id.js';
import { canonicalDigest } from './digest.js';
import { emptyEntries, entriesAfter, entriesFromSorted, setEntry, type EntryTree } from './dir-entries.js';
import { OfsError } from './errors.js';
import type { DirNode, FileNode, Namespace, Node } from './namespace.js';
import { legacyOwnership, MAX_MODE, NAME_PATTERN, SHARED_DIRECTORY, type Ownership } from './permissions.js';
import { upgradeRetryCache, type RetryCache } from './retry-cache.js';
import { parentPath } from './paths.js';

/**
 * A namespace as a sequence of bounded pieces: how a checkpoint is written
 * and read, and how the active master sends its state to a standby that
 * attaches. No piece holds more than ENTRIES_PER_PIECE entries, nor much more
 * than PIECE_BYTES of JSON, so neither side ever holds the whole namespace as
 * one string or one message, and the active keeps serving between pieces.
 *
 * Piece 0 is the header; each later piece is a list of entries in pre-order
 * (a directory before what it holds, each directory's entries by name), so a
 * loader meets every parent before its children and inserts in order:
 *
 *     header := {format: 4, seq, nextChunkId, recentRequests, rootMtime, rootOwnership: [owner, group, mode]}
 *     entry  := [path, "d", mtime, owner, group, mode]
 *             | [path, "f", mtime, size, [[chunkId, version], ...], owner, group, mode]
 *             | [path, "+", [[chunkId, version], ...]]
 *
 * A file entry holds at most CHUNKS_PER_ENTRY chunks; the rest of a longer
 * file's list follows in "+" entries of the same path, right after it, so no
 * entry outgrows a piece however long the file (format 4). Format 3 had no
 * "+" entries. Format 2, from before permissions, lacks the owners, groups
 * and modes: its nodes are loaded as the superuser's (legacyOwnership), its
 * root as shared.
 */
export const ENTRIES_PER_PIECE = 2_000;
/**
 * JSON bytes of a piece, near enough (`entryBytes`): a piece goes to a standby
 * as one message, whose header is at most 1 MiB (envelope.ts), where 2,000
 * entries of long paths or of files of many chunks (~30 bytes each) would not
 * fit.
 */
export const PIECE_BYTES = 512 * 1024;
/**
 * Chunks one entry lists at most (~200 KiB of JSON, ~24 bytes a chunk): a
 * file of more (over 512 GiB in 64 MiB chunks) goes on in "+" entries, or
 * its entry alone would pass a message's 1 MiB somewhere past 40,000 chunks
 * (a 60,001-chunk file did in standby-attach.test.ts) and a standby could
 * not attach.
 */
export const CHUNKS_PER_ENTRY = 8_192;
const FORMAT = 4;
/** Owners, groups and modes, but no "+" entries. */
const UNSPLIT_FORMAT = 3;
const LEGACY_FORMAT = 2;

const count = z.number().int().nonnegative();
const headerSchema = z.object({
  format: z.union([z.literal(FORMAT), z.literal(UNSPLIT_FORMAT), z.literal(LEGACY_FORMAT)]),
  seq: count,
  nextChunkId: z.number().int().positive(),
  recentRequests: z.array(z.array(z.tuple([z.string().min(1).max(64), count])).max(32).nullable()).max(128),
  rootMtime: count,
  rootOwnership: z.tuple([z.string().regex(NAME_PATTERN), z.string().regex(NAME_PATTERN), z.number().int().min(0).max(MAX_MODE)]).optional(),
});
type Owned = [owner: string, group: string, mode: number];
type ChunkList = [id: string, version: number][];
type Entry =
  | [path: string, kind: 'd', mtime: number, ...Partial<Owned>]
  | [path: string, kind: 'f', mtime: number, size: number, chunks: ChunkList, ...Partial<Owned>]
  | [path: string, kind: '+', chunks: ChunkList];

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** What is wrong with an entry's trailing [owner, group, mode], or undefined. */
function ownedProblem(owned: unknown[]): string | undefined {
  const [owner, group, mode] = owned;
  if (typeof owner !== 'string' || !NAME_PATTERN.test(owner) || typeof group !== 'string' || !NAME_PATTERN.test(group)) return 'its owner or group is not a name';
  if (!isCount(mode) || mode > MAX_MODE) return 'its mode is not 0 to 0o7777';
  return undefined;
}

/**
 * What is wrong with `entry`, or undefined if it is one. Checked by hand, not
 * by a zod schema: zod's union of tuples took 1.7 µs an entry, a third of a
 * checkpoint load (profiled, 200,000 files); this check does not show in the
 * same profile.
 */
function entryProblem(entry: unknown, format: number): string | undefined {
  if (!Array.isArray(entry)) return 'not a list';
  const [path, kind, mtime, size, chunks] = entry as unknown[];
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > 4096) return 'its path is not an absolute path of at most 4096 characters';
  if (kind === '+') {
    if (format !== FORMAT) return `a "+" entry in a snapshot of format ${format}, which has none`;
    return entry.length !== 3 ? 'a "+" entry has 3 fields' : chunkListProblem(mtime, CHUNKS_PER_ENTRY);
  }
  if (!isCount(mtime)) return 'its mtime is not a non-negative integer';
  const owned = format !== LEGACY_FORMAT;
  const extra = owned ? 3 : 0;
  if (kind === 'd') return entry.length !== 3 + extra ? `a directory entry has ${3 + extra} fields` : owned ? ownedProblem(entry.slice(3)) : undefined;
  if (kind !== 'f') return 'its kind is neither "d" nor "f"';
  if (entry.length !== 5 + extra) return `a file entry has ${5 + extra} fields`;
  if (owned) {
    const problem = ownedProblem(entry.slice(5));
    if (problem) return problem;
  }
  if (!isCount(size)) return 'its size is not a non-negative integer';
  // Only format 4 splits long lists; an older snapshot's entry holds its file's whole list.
  return chunkListProblem(chunks, format === FORMAT ? CHUNKS_PER_ENTRY : Infinity);
}

function chunkListProblem(chunks: unknown, most: number): string | undefined {
  if (!Array.isArray(chunks)) return 'its chunks are not a list';
  if (chunks.length > most) return `it lists ${chunks.length} chunks, more than ${most}`;
  for (const chunk of chunks) {
    if (!Array.isArray(chunk) || chunk.length !== 2 || !isChunkId(chunk[0]) || !isCount(chunk[1])) return 'a chunk is not [chunk id (16 lowercase hex digits), version]';
  }
  return undefined;
}

/** The pieces of `ns`, lazily: a checkpoint writer or a standby's pull takes them one at a time. */
export function* namespacePieces(ns: Namespace): Generator<unknown> {
  const { root } = ns;
  yield { format: FORMAT, seq: ns.seq, nextChunkId: ns.nextChunkId, recentRequests: ns.recentRequests, rootMtime: root.mtime, rootOwnership: [root.owner, root.group, root.mode] };
  let piece: Entry[] = [];
  let bytes = 0;
  /** `atBytes`: the JSON bytes of `at` (unquoted), so that each name is scanned for escapes once, not every path below it. */
  const walk = function* (dir: DirNode, at: string, atBytes: number): Generator<Entry[]> {
    for (const [name, node] of entriesAfter(dir.children)) {
      const path = at === '/' ? `/${name}` : `${at}/${name}`;
      const pathBytes = atBytes + 1 + jsonBytes(name);
      // Its entry, then (a file of more than CHUNKS_PER_ENTRY chunks) a "+" entry for each further run.
      for (let run = 0, entry: Entry | undefined = entryOf(path, node); entry; entry = continuation(path, node, ++run)) {
        const size = pathBytes + entryBytes(entry);
        if (piece.length === ENTRIES_PER_PIECE || (piece.length > 0 && bytes + size > PIECE_BYTES)) {
          yield piece;
          piece = [];
          bytes = 0;
        }
        piece.push(entry);
        bytes += size;
      }
      if (node.kind === 'dir') yield* walk(node, path, pathBytes);
    }
  };
  yield* walk(ns.root, '/', 0);
  if (piece.length > 0) yield piece;
}

/** A node's entry: a file's lists its first CHUNKS_PER_ENTRY chunks. */
function entryOf(path: string, node: Node): Entry {
  const { owner, group, mode } = node;
  if (node.kind === 'dir') return [path, 'd', node.mtime, owner, group, mode];
  return [path, 'f', node.mtime, node.size, chunkList(node, 0), owner, group, mode];
}

/** The "+" entry of a file's `run`th further CHUNKS_PER_ENTRY chunks, if it has them. */
function continuation(path: string, node: Node, run: number): Entry | undefined {
  const from = run * CHUNKS_PER_ENTRY;
  return node.kind === 'file' && from < node.chunks.length ? [path, '+', chunkList(node, from)] : undefined;
}

function chunkList(file: FileNode, from: number): ChunkList {
  const chunks = from === 0 && file.chunks.length <= CHUNKS_PER_ENTRY ? file.chunks : file.chunks.slice(from, from + CHUNKS_PER_ENTRY);
  return chunks.map((c) => [c.id, c.version]);
}

/** Characters JSON escapes: a control character takes 6 bytes (\u0001), a quote or backslash 2. */
const ESCAPED = /["\\\u0000-\u001f]/;
const ESCAPED_ALL = new RegExp(ESCAPED.source, 'g');

/**
 * A name's bytes in JSON, at most, unquoted: a name may hold control
 * characters (only NUL is refused), each six bytes, and 400 files of such
 * names once made a piece of 3 MB. Tested first, and counted only when
 * there is something to count: most names have none.
 */
function jsonBytes(name: string): number {
  const escapes = ESCAPED.test(name) ? name.match(ESCAPED_ALL)!.length : 0;
  return Buffer.byteLength(name) + 5 * escapes;
}

/**
 * An entry's JSON bytes besides its path, at least: its owner and group
 * (names: plain ASCII), quotes, commas and its numbers at their longest, 32
 * bytes a chunk.
 */
function entryBytes(entry: Entry): number {
  const [, kind] = entry;
  if (kind === '+') return 80 + 32 * entry[2].length;
  if (kind === 'd') return 80 + entry[3]!.length + entry[4]!.length;
  return 80 + entry[5]!.length + entry[6]!.length + 32 * entry[4].length;
}

function malformed(what: string, detail: string): OfsError {
  return new OfsError('EBADMSG', `malformed namespace snapshot: ${what}: ${detail.slice(0, 300)}`);
}

/**
 * Builds a namespace from its pieces, checking each as it comes (the standby
 * installs what it is sent; a checkpoint is checked by its CRC too, but a bug
 * must not install a namespace whose tree contradicts itself). Memory: the
 * namespace being built and the chain of directories above the latest entry.
 */
export class NamespaceLoader {
  private header: z.infer<typeof headerSchema> | undefined;
  private readonly root: DirNode = { kind: 'dir', mtime: 0, children: emptyEntries(), ...SHARED_DIRECTORY };
  /** One string per distinct owner or group name: a million nodes of a few users share a few strings. */
  private readonly names = new Map<string, string>();
  /**
   * The directories from the root down to the latest entry's parent (pre-order
   * means a parent is always among them), each with its entries so far, in
   * order: a directory's tree is built whole once all of them are in.
   */
  private readonly open: OpenDir[] = [{ path: '/', dir: this.root, names: [], nodes: [] }];
  private entries = 0;
  /** The highest chunk id met: below the header's nextChunkId, or ids could be handed out twice. */
  private maxChunkId = 0;
  /** The chunk table, filled as files come (no second walk of the namespace). */
  private readonly table = new ChunkTable();
  /** The latest entry, if a file: where a "+" entry's chunks go; `more`: its last list was full, so one may follow. */
  private lastFile: { path: string; node: FileNode; more: boolean } | undefined;

  add(piece: unknown): void {
    if (!this.header) {
      const parsed = headerSchema.safeParse(piece);
      if (!parsed.success) throw malformed('header', parsed.error.message);
      this.header = parsed.data;
      this.root.mtime = parsed.data.rootMtime;
      if (parsed.data.rootOwnership) [this.root.owner, this.root.group, this.root.mode] = parsed.data.rootOwnership;
      return;
    }
    if (!Array.isArray(piece) || piece.length > ENTRIES_PER_PIECE) throw malformed(`piece after entry ${this.entries}`, `not a list of at most ${ENTRIES_PER_PIECE} entries`);
    for (const entry of piece) {
      const problem = entryProblem(entry, this.header.format);
      if (problem) throw malformed(`entry ${this.entries}`, `${problem}: ${JSON.stringify(entry).slice(0, 300)}`);
      const checked = entry as Entry;
      if (checked[1] === '+') this.continueFile(checked[0], checked[2]);
      else this.insert(checked);
    }
  }

  private insert(entry: Exclude<Entry, [string, '+', ChunkList]>): void {
    const [at, kind, mtime] = entry;
    const parent = parentPath(at);
    while (this.open.length > 0 && this.open.at(-1)!.path !== parent) close(this.open.pop()!);
    const top = this.open.at(-1);
    if (!top) throw malformed(`entry ${this.entries} (${at})`, 'its parent directory did not come before it');
    const name = at.slice(at.lastIndexOf('/') + 1);
    const last = top.names.at(-1);
    if (!name || name === '.' || name === '..' || (last !== undefined && name <= last)) throw malformed(`entry ${this.entries} (${at})`, 'out of name order, or a repeat');
    const node: Node =
      kind === 'd'
        ? { kind: 'dir', mtime, children: emptyEntries(), ...this.ownership('dir', entry.slice(3) as Partial<Owned>) }
        : { kind: 'file', mtime, size: entry[3], chunks: entry[4].map(([id, version]) => ({ id, version })), ...this.ownership('file', entry.slice(5) as Partial<Owned>) };
    this.lastFile = undefined;
    if (node.kind === 'file') {
      this.checkChunks(at, node.chunks);
      this.table.addFile(at, node);
      this.lastFile = { path: at, node, more: node.chunks.length === CHUNKS_PER_ENTRY };
    }
    top.names.push(name);
    top.nodes.push(node);
    if (node.kind === 'dir') this.open.push({ path: at, dir: node, names: [], nodes: [] });
    this.entries++;
  }

  /** More of the latest file's chunk list. */
  private continueFile(at: string, list: ChunkList): void {
    const file = this.lastFile;
    if (!file || file.path !== at) throw malformed(`entry ${this.entries} (${at})`, 'a "+" entry does not follow its file\'s entry');
    // As namespacePieces writes them: each list but the last of a file full, none empty.
    if (!file.more || list.length === 0) throw malformed(`entry ${this.entries} (${at})`, `a "+" entry follows only a list of ${CHUNKS_PER_ENTRY} chunks, and holds some`);
    file.more = list.length === CHUNKS_PER_ENTRY;
    const chunks = list.map(([id, version]) => ({ id, version }));
    this.checkChunks(at, chunks);
    this.table.addChunks(at, chunks, file.node.chunks.length);
    file.node.chunks.push(...chunks);
    this.entries++;
  }

  private checkChunks(at: string, chunks: readonly { id: string }[]): void {
    // Most files have one chunk: no set to make for them.
    const listed = chunks.length > 1 ? new Set<string>() : undefined;
    for (const { id } of chunks) {
      if (this.table.chunks.has(id)) throw malformed(`entry ${this.entries} (${at})`, `chunk ${id} belongs to another file too`);
      if (listed?.has(id)) throw malformed(`entry ${this.entries} (${at})`, `chunk ${id} is listed twice`);
      listed?.add(id);
      this.maxChunkId = Math.max(this.maxChunkId, parseInt(id, 16));
    }
  }

  private ownership(kind: Node['kind'], [owner, group, mode]: Partial<Owned>): Ownership {
    if (owner === undefined || group === undefined || mode === undefined) return legacyOwnership(kind);
    return { owner: this.intern(owner), group: this.intern(group), mode };
  }

  private intern(name: string): string {
    const known = this.names.get(name);
    if (known !== undefined) return known;
    this.names.set(name, name);
    return name;
  }

  finish(): TrackedNamespace {
    if (!this.header) throw malformed('header', 'no piece came');
    while (this.open.length > 0) close(this.open.pop()!);
    const { seq, nextChunkId, recentRequests } = this.header;
    if (this.maxChunkId >= nextChunkId) throw malformed('header', `nextChunkId ${nextChunkId} is not above chunk id ${this.maxChunkId.toString(16)}, which is in use`);
    return { ns: { seq, nextChunkId, recentRequests, root: this.root }, table: this.table };
  }
}

interface OpenDir {
  path: string;
  dir: DirNode;
  names: string[];
  nodes: Node[];
}

function close({ dir, names, nodes }: OpenDir): void {
  dir.children = entriesFromSorted(names, nodes);
}

/**
 * A digest of everything a namespace holds, independent of how its trees
 * happen to be shaped (a replay and a checkpoint load insert in different
 * orders): the active master, its standby and a restart compare exactly.
 */
export function namespaceDigest(ns: Namespace): string {
  return canonicalDigest(namespacePieces(ns));
}

/** A namespace from all its pieces at once (tests, small namespaces). */
export function loadNamespace(pieces: Iterable<unknown>): Namespace {
  const loader = new NamespaceLoader();
  for (const piece of pieces) loader.add(piece);
  return loader.finish().ns;
}

type LegacyDir = { kind: 'dir'; mtime: number; children: Record<string, LegacyDir | Node> | EntryTree<Node> };

/**
 * A namespace as an older OFS wrote it in a checkpoint, in today's form: its
 * retry cache was a list of ids, oldest first, and each directory's entries
 * one object (name → node) rather than a tree. It had no owners: its nodes
 * become the superuser's, with the default modes, and its root is shared.
 */
export function upgradeNamespace(ns: { recentRequests?: unknown; root: LegacyDir } & Omit<Namespace, 'recentRequests' | 'root'>): Namespace {
  const recentRequests = upgradeRetryCache(ns.recentRequests) ?? (ns.recentRequests as RetryCache);
  const upgradeDir = (dir: LegacyDir): DirNode => {
    // A tree already (a checkpoint between the two changes), or one object.
    const entries: [string, LegacyDir | Node][] =
      'leaf' in dir.children && typeof dir.children.leaf === 'boolean'
        ? [...entriesAfter(dir.children as EntryTree<Node>)]
        : Object.keys(dir.children).sort().map((name) => [name, (dir.children as Record<string, LegacyDir | Node>)[name]!]);
    let children = emptyEntries<Node>();
    for (const [name, child] of entries) {
      children = setEntry(children, name, child.kind === 'dir' ? upgradeDir(child as LegacyDir) : { ...legacyOwnership('file'), ...(child as Node) });
    }
    return { kind: 'dir', mtime: dir.mtime, children, ...legacyOwnership('dir') };
  };
  return { ...ns, recentRequests, root: { ...upgradeDir(ns.root), ...SHARED_DIRECTORY } };
}
