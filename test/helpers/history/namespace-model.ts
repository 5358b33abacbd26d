import { DEFINITE_ERRORS, describeFsOperation, type FsCall, type FsOperation, type FsResult, type ListedEntry } from './fs-history.js';
import type { Model, Operation } from './history.js';

/*
 * The sequential specification of OFS's namespace and whole-file contents,
 * encoding what docs/consistency.md promises and nothing more:
 *
 * - Namespace operations (mkdir, create, delete, rename, list, stat, and the
 *   existence and type a read finds) are linearizable, with the master's
 *   error codes (src/core/commands.ts): each takes effect at one point.
 * - A whole-file write is not one atomic step. `write(path, data)` creates
 *   (or replaces) the file at one point (master.create: linearizable), then
 *   writes its bytes chunk mutation by chunk mutation, asking the master for
 *   each chunk's lease *by path*, and finally records the size. So it is two
 *   steps here: `create`, and `finish` once the bytes are in. Between them
 *   the file's bytes are undefined (a reader reads to a replica's synced
 *   length, past the recorded size: "a region that is undefined"), and
 *   the writer is *active at its path*: any file that is at that path while
 *   it is active (one created over it, one renamed onto it) may get its bytes.
 * - A file is *defined* (every read returns exactly the written bytes, and
 *   stat/list its size) only after a write that no other writer raced: the
 *   writer created it, was the only one active at its path meanwhile, the
 *   file never moved, and the write succeeded ("a serial write is defined").
 * - Writes that raced and all succeeded leave it *consistent but undefined*:
 *   any bytes, but the same for every reader, so the first read fixes them.
 * - A failed write leaves what it touched *inconsistent*: any read, forever
 *   (until the file is replaced). A write refused in its bytes' phase (the
 *   master's ENOENT, EISDIR or EINVAL for a lease or the final size: its file
 *   went away or was replaced under it) stops being active then; one whose
 *   outcome is unknown (no definite answer) stays active at its path for ever after:
 *   the docs put no bound on when a failed mutation's bytes land.
 * - Sizes in stat and list are checked only for defined files (the recorded
 *   size grows through extend, heartbeats and chunk reports while a write is
 *   under way).
 */

type WriteCall = Extract<FsCall, { kind: 'write' }>;

/** The calls the model steps through: each write is its `create` and its `finish`. */
export type ModelCall =
  | Exclude<FsCall, WriteCall | { kind: 'list' }>
  /** `only`: a look at one name of the listing (the failing window's `split`). */
  | (Extract<FsCall, { kind: 'list' }> & { only?: string })
  | { kind: 'create'; writer: number; write: WriteCall }
  | { kind: 'finish'; writer: number; write: WriteCall; outcome: 'ok' | 'stopped' };

type Content =
  | { kind: 'defined'; digest: string; size: number }
  /** Consistent but undefined, with the bytes a read has seen. */
  | { kind: 'consistent'; digest: string }
  /** Consistent but undefined, not read yet. */
  | { kind: 'settled' }
  /** Writers that may still put bytes in it; `sole`: the one that created it, while it is the only one and the file has not moved. */
  | { kind: 'writing'; writers: number[]; sole?: number; failed: boolean }
  | { kind: 'inconsistent' };

type Node = { kind: 'dir' } | { kind: 'file'; content: Content };

export interface FsState {
  nodes: ReadonlyMap<string, Node>;
  /** Per path, the writers active there (created, not finished). */
  active: ReadonlyMap<string, readonly number[]>;
}

const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';
const isBelow = (path: string, dir: string) => path.startsWith(dir === '/' ? '/' : `${dir}/`) && path !== dir;
const nameOf = (path: string) => path.slice(path.lastIndexOf('/') + 1);
const union = (a: readonly number[], b: readonly number[]) => [...new Set([...a, ...b])].sort((x, y) => x - y);

/** What the master may answer a writer's lease request or final size with (master-planners.ts prepareLease, commands.ts decideExtend). */
const REFUSED_IN_BYTES_PHASE: ReadonlySet<string> = new Set(['ENOENT', 'EISDIR', 'EINVAL']);

/**
 * Lowers a recorded history to the model's calls: a write becomes its
 * create and its finish; an answer that does not say whether the operation
 * took effect becomes no answer.
 */
export function lowerFsHistory(ops: readonly FsOperation[]): Operation<ModelCall, FsResult>[] {
  const lowered: Operation<ModelCall, FsResult>[] = [];
  for (const op of ops) {
    const definite = op.result !== undefined && op.complete !== undefined && (op.result.ok || DEFINITE_ERRORS.has(op.result.code));
    const answered = definite ? { complete: op.complete, result: op.result } : { complete: undefined, result: undefined };
    const { call } = op;
    if (call.kind !== 'write') {
      lowered.push({ ...op, call, ...answered });
      continue;
    }
    const create = { ...op, call: { kind: 'create' as const, writer: op.id, write: call } };
    const refused = definite && !op.result!.ok ? op.result!.code : undefined;
    if (definite && !refused) {
      lowered.push({ ...create, complete: op.complete, result: { ok: true } });
      lowered.push({ ...op, call: { kind: 'finish', writer: op.id, write: call, outcome: 'ok' }, result: { ok: true } });
    } else if (refused && REFUSED_IN_BYTES_PHASE.has(refused)) {
      // Refused by its create, or later, for a lease or the size, once the file went away under it: either way, over by its answer.
      lowered.push({ ...create, complete: op.complete, result: undefined });
      lowered.push({ ...op, call: { kind: 'finish', writer: op.id, write: call, outcome: 'stopped' }, result: { ok: true } });
    } else {
      lowered.push({ ...create, ...answered });
    }
  }
  return lowered;
}

/** The model of one partition: a directory `root` (which exists, empty, at the start) and what the workload does below it. */
export function namespaceModel(root: string): Model<FsState, ModelCall, FsResult> {
  const init: FsState = { nodes: new Map([[root, { kind: 'dir' }]]), active: new Map() };
  const inScope = (path: string) => path === root || isBelow(path, root);
  const lookup = (s: FsState, path: string): Node | undefined => {
    if (inScope(path)) return s.nodes.get(path);
    if (isBelow(root, path)) return { kind: 'dir' }; // an ancestor of the partition: the workload leaves those alone
    throw new Error(`${path} lies outside the partition ${root}`);
  };
  return {
    init,
    key: (s) => JSON.stringify([[...s.nodes].sort(([a], [b]) => (a < b ? -1 : 1)), [...s.active].sort(([a], [b]) => (a < b ? -1 : 1))]),
    show,
    describe: describeLowered,
    split: splitListing,
    related: (a, b) => touched(a).some((p) => touched(b).some((q) => p === q || isBelow(p, q) || isBelow(q, p))),
    onlyObserves: (call, result) => ['read', 'stat', 'list'].includes(call.kind) || (result !== undefined && !result.ok),
    step(s, call, result) {
      const outcome = decide(s, call, lookup);
      if ('code' in outcome) return result === undefined || (!result.ok && result.code === outcome.code) ? s : undefined;
      if (result !== undefined && !result.ok) return undefined;
      return outcome.answer(result);
    },
  };
}

/** The paths a call reads or changes: each with what lies below it, and (through `isBelow`) above it. */
const touched = (call: ModelCall): string[] => {
  if (call.kind === 'rename') return [call.from, call.to];
  if (call.kind === 'list' && call.only !== undefined) return [`${call.path}/${call.only}`];
  return [call.kind === 'create' || call.kind === 'finish' ? call.write.path : call.path];
};

type Lookup = (s: FsState, path: string) => Node | undefined;
/** The master's decision on a call in state `s`: an error code, or how to answer (undefined: the answer is wrong). */
type Decision = { code: string } | { answer: (result: Extract<FsResult, { ok: true }> | undefined) => FsState | undefined };

const refuse = (code: string): Decision => ({ code });
const accept = (next: FsState): Decision => ({ answer: () => next });

function decide(s: FsState, call: ModelCall, lookup: Lookup): Decision {
  switch (call.kind) {
    case 'mkdir': {
      if (lookup(s, call.path)) return refuse('EEXIST');
      const parent = lookup(s, parentOf(call.path));
      if (!parent) return refuse('ENOENT');
      if (parent.kind === 'file') return refuse('ENOTDIR');
      return accept(withNodes(s, [[call.path, { kind: 'dir' }]], []));
    }
    case 'create':
      return decideCreate(s, call.writer, call.write, lookup);
    case 'finish': {
      if ((s.active.get(call.write.path) ?? []).includes(call.writer)) return accept(finish(s, call.writer, call.write, call.outcome));
      // A writer refused at its create was never active: its stop changes nothing (and a success must follow its create).
      return call.outcome === 'stopped' ? accept(s) : { answer: () => undefined };
    }
    case 'delete': {
      const node = lookup(s, call.path);
      if (!node) return refuse('ENOENT');
      const below = [...s.nodes.keys()].filter((p) => isBelow(p, call.path));
      if (node.kind === 'dir' && below.length > 0 && !call.recursive) return refuse('ENOTEMPTY');
      return accept(withNodes(s, [], [call.path, ...below]));
    }
    case 'rename':
      return decideRename(s, call.from, call.to, lookup);
    case 'read': {
      const node = lookup(s, call.path);
      if (!node) return refuse('ENOENT');
      if (node.kind === 'dir') return refuse('EISDIR');
      return { answer: (result) => readContent(s, call.path, node.content, result?.digest) };
    }
    case 'stat': {
      const node = lookup(s, call.path);
      if (!node) return refuse('ENOENT');
      return { answer: (result) => (!result || (result.type === node.kind && sizeFits(node, result.size)) ? s : undefined) };
    }
    case 'list': {
      const node = lookup(s, call.path);
      if (!node) return refuse('ENOENT');
      const listed: [string, Node][] =
        node.kind === 'file'
          ? [[nameOf(call.path), node]]
          : [...s.nodes]
              .filter(([p]) => parentOf(p) === call.path && p !== call.path)
              .map(([p, n]): [string, Node] => [nameOf(p), n])
              .sort(([a], [b]) => (a < b ? -1 : 1));
      const expected = call.only === undefined ? listed : listed.filter(([name]) => name === call.only);
      return { answer: (result) => (!result || listingFits(expected, result.entries) ? s : undefined) };
    }
  }
}

/** master.create with missing parents made (commands.ts decideCreate): the file starts empty, and its writer becomes active at the path. */
function decideCreate(s: FsState, writer: number, write: WriteCall, lookup: Lookup): Decision {
  const existing = lookup(s, write.path);
  if (existing?.kind === 'dir') return refuse('EISDIR');
  if (existing && !write.overwrite) return refuse('EEXIST');
  // Missing parents are made; a file on the way refuses the create (nothing lies below a file, so walking up finds it).
  const made: [string, Node][] = [];
  for (let dir = parentOf(write.path); lookup(s, dir)?.kind !== 'dir'; dir = parentOf(dir)) {
    if (lookup(s, dir)?.kind === 'file') return refuse('ENOTDIR');
    made.push([dir, { kind: 'dir' }]);
  }
  const others = s.active.get(write.path) ?? [];
  const content: Content = { kind: 'writing', writers: union(others, [writer]), sole: others.length === 0 ? writer : undefined, failed: false };
  const next = withNodes(s, [...made, [write.path, { kind: 'file', content }]], []);
  return accept({ ...next, active: new Map([...next.active, [write.path, union(others, [writer])]]) });
}

/** A writer's bytes are in (or it stopped): what it touched is defined, consistent, or inconsistent. */
function finish(s: FsState, writer: number, write: WriteCall, outcome: 'ok' | 'stopped'): FsState {
  const nodes = new Map(s.nodes);
  for (const [path, node] of s.nodes) {
    if (node.kind !== 'file' || node.content.kind !== 'writing' || !node.content.writers.includes(writer)) continue;
    const { content } = node;
    const writers = content.writers.filter((w) => w !== writer);
    const failed = content.failed || outcome === 'stopped';
    let next: Content;
    if (outcome === 'ok' && content.sole === writer && path === write.path) next = { kind: 'defined', digest: write.digest, size: write.size };
    else if (writers.length > 0) next = { kind: 'writing', writers, failed, sole: failed ? undefined : content.sole };
    else next = failed ? { kind: 'inconsistent' } : { kind: 'settled' };
    nodes.set(path, { kind: 'file', content: next });
  }
  const left = (s.active.get(write.path) ?? []).filter((w) => w !== writer);
  const active = new Map(s.active);
  if (left.length > 0) active.set(write.path, left);
  else active.delete(write.path);
  return { nodes, active };
}

/** commands.ts decideRename; each file moved is no longer where its writers write, and gets the writers active where it lands. */
function decideRename(s: FsState, from: string, to: string, lookup: Lookup): Decision {
  if (!lookup(s, from)) return refuse('ENOENT');
  if (to === from || isBelow(to, from)) return refuse('EINVAL');
  if (lookup(s, to)) return refuse('EEXIST');
  const parent = lookup(s, parentOf(to));
  if (!parent) return refuse('ENOENT');
  if (parent.kind === 'file') return refuse('ENOTDIR');
  const moved = [...s.nodes].filter(([p]) => p === from || isBelow(p, from));
  const landed = moved.map(([p, node]): [string, Node] => {
    const at = to + p.slice(from.length);
    return [at, node.kind === 'file' ? { kind: 'file', content: movedContent(node.content, s.active.get(at) ?? []) } : node];
  });
  return accept(withNodes(s, landed, moved.map(([p]) => p)));
}

function movedContent(content: Content, activeThere: readonly number[]): Content {
  const writers = content.kind === 'writing' ? content.writers : [];
  const all = union(writers, activeThere);
  if (all.length === 0) return content;
  const failed = content.kind === 'inconsistent' || (content.kind === 'writing' && content.failed);
  return { kind: 'writing', writers: all, failed };
}

function readContent(s: FsState, path: string, content: Content, digest: string | undefined): FsState | undefined {
  if (digest === undefined) return s;
  switch (content.kind) {
    case 'defined':
    case 'consistent':
      return digest === content.digest ? s : undefined;
    case 'settled':
      return withNodes(s, [[path, { kind: 'file', content: { kind: 'consistent', digest } }]], []);
    case 'writing':
    case 'inconsistent':
      return s;
  }
}

const sizeFits = (node: Node, size: number | undefined) => node.kind === 'dir' || node.content.kind !== 'defined' || node.content.size === size;

function listingFits(expected: [string, Node][], entries: ListedEntry[] | undefined): boolean {
  if (!entries || entries.length !== expected.length) return false;
  return expected.every(([name, node], i) => entries[i]!.name === name && entries[i]!.type === node.kind && sizeFits(node, entries[i]!.size));
}

/**
 * How many reads of a linearization were held to known bytes (a defined or
 * consistent file) rather than free to see anything (a file being written,
 * or inconsistent): how much the check of contents could catch.
 */
export function readsHeldToBytes(root: string, ops: readonly Operation<ModelCall, FsResult>[], order: readonly number[]): number {
  const model = namespaceModel(root);
  let state = model.init;
  let held = 0;
  for (const i of order) {
    const { call, result } = ops[i]!;
    const node = call.kind === 'read' && result?.ok ? state.nodes.get(call.path) : undefined;
    if (node?.kind === 'file' && (node.content.kind === 'defined' || node.content.kind === 'consistent')) held++;
    state = model.step(state, call, result)!;
  }
  return held;
}

/** A directory's listing as one look per name that it shows or that the window names below it: each may take effect at its own point. */
function splitListing(op: Operation<ModelCall, FsResult>, window: readonly Operation<ModelCall, FsResult>[]): Operation<ModelCall, FsResult>[] {
  const { call, result } = op;
  if (call.kind !== 'list' || call.only !== undefined || !result?.ok || !result.entries) return [op];
  // A file lists as itself: that look has one name, and nothing to split.
  if (result.entries.some((e) => e.name === nameOf(call.path))) return [op];
  const names = new Set(result.entries.map((e) => e.name));
  for (const other of window) for (const path of touched(other.call)) if (isBelow(path, call.path)) names.add(path.slice(call.path.length + 1).split('/')[0]!);
  return [...names].sort().map((only) => ({ ...op, call: { ...call, only }, result: { ok: true, entries: result.entries!.filter((e) => e.name === only) } }));
}

function withNodes(s: FsState, set: [string, Node][], removed: string[]): FsState {
  const nodes = new Map(s.nodes);
  for (const p of removed) nodes.delete(p);
  for (const [p, node] of set) nodes.set(p, node);
  return { nodes, active: s.active };
}

function showContent(content: Content): string {
  switch (content.kind) {
    case 'defined':
      return `${content.digest.slice(0, 8)} (${content.size} B)`;
    case 'consistent':
      return `consistent, read as ${content.digest.slice(0, 8)}`;
    case 'writing':
      return `being written by #${content.writers.join(' #')}${content.failed ? ' (one failed)' : ''}`;
    default:
      return content.kind;
  }
}

function show(s: FsState): string {
  const nodes = [...s.nodes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, n]) => (n.kind === 'dir' ? `${p}/` : `${p} ${showContent(n.content)}`));
  const active = [...s.active].map(([p, writers]) => `#${writers.join(' #')} writing ${p}`);
  return `{ ${[...nodes, ...active].join('; ')} }`;
}

function describeLowered(op: Operation<ModelCall, FsResult>): string {
  const { call } = op;
  if (call.kind === 'create') return describeFsOperation({ ...op, call: call.write }, ': its create');
  if (call.kind === 'finish') return describeFsOperation({ ...op, call: call.write }, `: its bytes ${call.outcome === 'ok' ? 'done' : 'stopped'}`);
  if (call.kind === 'list' && call.only !== undefined) return describeFsOperation({ ...op, call }, ` (its entry ${call.only})`);
  return describeFsOperation({ ...op, call });
}
