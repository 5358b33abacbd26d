/**
 * A directory's entries: a B+tree of small plain nodes, in name order.
 *
 * Why not a plain `Record<name, node>`: immer copies an object it changes,
 * so an insert into a directory of a million entries copied a million slots.
 * Here a change copies only the nodes on one root-to-leaf path, each at most
 * MAX_FANOUT slots, so it costs O(log n) whatever the directory holds; and
 * the order by name makes a paged listing (`after`, `limit`) a seek plus a
 * short walk.
 *
 * The tree is persistent: a change returns a new root that shares every
 * node off the changed path with the old one, which stays as it was. (Done
 * by hand rather than through immer drafts: proxies over these arrays made
 * an insert four times dearer, measured.)
 */

/** Entries per node before it splits. 64 keeps a path copy at a few hundred slots even at 10^7 entries. */
export const MAX_FANOUT = 64;
/** A node below this after a removal joins a neighbour, so a tree that shrank does not keep sparse nodes. */
const MIN_FANOUT = MAX_FANOUT / 4;

export interface EntryLeaf<V> {
  leaf: true;
  /** Names, ascending. */
  keys: string[];
  values: V[];
}

export interface EntryBranch<V> {
  leaf: false;
  /** `keys[i]` is the smallest name under `kids[i]`. */
  keys: string[];
  kids: EntryTree<V>[];
  /** Entries under this branch. */
  count: number;
}

export type EntryTree<V> = EntryLeaf<V> | EntryBranch<V>;

export function emptyEntries<V>(): EntryTree<V> {
  return { leaf: true, keys: [], values: [] };
}

export function entryCount(tree: EntryTree<unknown>): number {
  return tree.leaf ? tree.keys.length : tree.count;
}

/** Index of the first key ≥ `name` (keys.length if none). */
function lowerBound(keys: readonly string[], name: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The kid of `branch` whose range holds `name`. */
function kidIndex(branch: EntryBranch<unknown>, name: string): number {
  const i = lowerBound(branch.keys, name);
  return i < branch.keys.length && branch.keys[i] === name ? i : Math.max(0, i - 1);
}

export function getEntry<V>(tree: EntryTree<V>, name: string): V | undefined {
  let node = tree;
  while (!node.leaf) node = node.kids[kidIndex(node, name)]!;
  const i = lowerBound(node.keys, name);
  return node.keys[i] === name ? node.values[i] : undefined;
}

/** `tree` with `name` set to `value` (added or replaced). */
export function setEntry<V>(tree: EntryTree<V>, name: string, value: V): EntryTree<V> {
  const parts = inserted(tree, name, value);
  // The root split: a new root above its two halves.
  return parts.length === 1 ? parts[0]! : branch(parts.map((p) => p.keys[0]!), parts);
}

/** A copy of `node` with the entry set: one node, or two if it overflowed. */
function inserted<V>(node: EntryTree<V>, name: string, value: V): EntryTree<V>[] {
  const keys = node.keys.slice();
  let copy: EntryTree<V>;
  if (node.leaf) {
    const values = node.values.slice();
    const i = lowerBound(keys, name);
    if (keys[i] === name) values[i] = value;
    else {
      keys.splice(i, 0, name);
      values.splice(i, 0, value);
    }
    copy = { leaf: true, keys, values };
  } else {
    const i = kidIndex(node, name);
    const parts = inserted(node.kids[i]!, name, value);
    const kids = node.kids.slice();
    kids.splice(i, 1, ...parts);
    keys.splice(i, 1, ...parts.map((p) => p.keys[0]!));
    copy = branch(keys, kids);
  }
  return keys.length > MAX_FANOUT ? split(copy) : [copy];
}

function split<V>(node: EntryTree<V>): EntryTree<V>[] {
  const mid = node.keys.length >>> 1;
  if (node.leaf) {
    return [
      { leaf: true, keys: node.keys.slice(0, mid), values: node.values.slice(0, mid) },
      { leaf: true, keys: node.keys.slice(mid), values: node.values.slice(mid) },
    ];
  }
  return [branch(node.keys.slice(0, mid), node.kids.slice(0, mid)), branch(node.keys.slice(mid), node.kids.slice(mid))];
}

function branch<V>(keys: string[], kids: EntryTree<V>[]): EntryBranch<V> {
  let count = 0;
  for (const kid of kids) count += entryCount(kid);
  return { leaf: false, keys, kids, count };
}

/** `tree` without `name` (the same tree if it has no such entry). */
export function deleteEntry<V>(tree: EntryTree<V>, name: string): EntryTree<V> {
  let root = removed(tree, name);
  // A root branch left with one kid gives way to it, so depth shrinks as the tree does.
  while (!root.leaf && root.kids.length === 1) root = root.kids[0]!;
  return root.leaf || root.kids.length > 0 ? root : emptyEntries();
}

/** A copy of `node` without the entry, or `node` itself if it has none; an emptied node stays, for its parent to drop. */
function removed<V>(node: EntryTree<V>, name: string): EntryTree<V> {
  if (node.leaf) {
    const i = lowerBound(node.keys, name);
    if (node.keys[i] !== name) return node;
    const keys = node.keys.slice();
    const values = node.values.slice();
    keys.splice(i, 1);
    values.splice(i, 1);
    return { leaf: true, keys, values };
  }
  const i = kidIndex(node, name);
  const kid = removed(node.kids[i]!, name);
  if (kid === node.kids[i]) return node;
  const keys = node.keys.slice();
  const kids = node.kids.slice();
  if (kid.keys.length === 0) {
    kids.splice(i, 1);
    keys.splice(i, 1);
  } else {
    kids[i] = kid;
    keys[i] = kid.keys[0]!;
    if (kid.keys.length < MIN_FANOUT && kids.length > 1) rebalance(keys, kids, i);
  }
  return branch(keys, kids);
}

/** Joins the underfull kid `i` with a neighbour (in the copied `keys` and `kids`), splitting again if the two overflow one node. */
function rebalance<V>(keys: string[], kids: EntryTree<V>[], i: number): void {
  const at = i > 0 ? i - 1 : i;
  const left = kids[at]!;
  const right = kids[at + 1]!;
  const joined: EntryTree<V> = left.leaf
    ? { leaf: true, keys: [...left.keys, ...right.keys], values: [...left.values, ...(right as EntryLeaf<V>).values] }
    : branch([...left.keys, ...right.keys], [...left.kids, ...(right as EntryBranch<V>).kids]);
  const replacement = joined.keys.length > MAX_FANOUT ? split(joined) : [joined];
  kids.splice(at, 2, ...replacement);
  keys.splice(at, 2, ...replacement.map((kid) => kid.keys[0]!));
}

/** Entries per leaf when a tree is built whole: room to grow before the first splits. */
const BUILD_FILL = (MAX_FANOUT * 3) / 4;

/** A tree of entries already in ascending name order, built bottom-up in O(n) (loading a checkpoint). */
export function entriesFromSorted<V>(keys: readonly string[], values: readonly V[]): EntryTree<V> {
  if (keys.length <= MAX_FANOUT) return { leaf: true, keys: keys.slice(), values: values.slice() };
  let level: EntryTree<V>[] = [];
  for (let i = 0; i < keys.length; i += BUILD_FILL) {
    level.push({ leaf: true, keys: keys.slice(i, i + BUILD_FILL), values: values.slice(i, i + BUILD_FILL) });
  }
  while (level.length > 1) {
    const above: EntryTree<V>[] = [];
    for (let i = 0; i < level.length; i += BUILD_FILL) {
      const kids = level.slice(i, i + BUILD_FILL);
      above.push(branch(kids.map((kid) => kid.keys[0]!), kids));
    }
    level = above;
  }
  return level[0]!;
}

/** Entries in name order, starting after `after` (from the first if undefined). */
export function* entriesAfter<V>(tree: EntryTree<V>, after?: string): Generator<[string, V]> {
  if (tree.leaf) {
    const at = after === undefined ? 0 : lowerBound(tree.keys, after);
    const start = after !== undefined && tree.keys[at] === after ? at + 1 : at;
    for (let i = start; i < tree.keys.length; i++) yield [tree.keys[i]!, tree.values[i]!];
    return;
  }
  const start = after === undefined ? 0 : kidIndex(tree, after);
  for (let i = start; i < tree.kids.length; i++) yield* entriesAfter(tree.kids[i]!, i === start ? after : undefined);
}

export function* entryNames(tree: EntryTree<unknown>): Generator<string> {
  for (const [name] of entriesAfter(tree)) yield name;
}
