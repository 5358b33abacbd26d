import test from 'ava';
import fc from 'fast-check';
import { copiedBy } from '../helpers/copied.js';
import { deleteEntry, emptyEntries, entriesAfter, entryCount, getEntry, MAX_FANOUT, setEntry, type EntryTree } from '../../src/core/dir-entries.js';

type Op = { set: true; name: string; value: number } | { set: false; name: string };

const name = fc.string({ minLength: 1, maxLength: 4, unit: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h') });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ set: fc.constant(true as const), name, value: fc.integer() }),
  fc.record({ set: fc.constant(false as const), name }),
);

function applyOps(tree: EntryTree<number>, ops: readonly Op[]): EntryTree<number> {
  for (const o of ops) tree = o.set ? setEntry(tree, o.name, o.value) : deleteEntry(tree, o.name);
  return tree;
}

/** Every invariant a reader relies on: sorted keys, first-key separators, counts, node sizes. */
function checkShape(tree: EntryTree<number>, isRoot = true): void {
  if (!isRoot && tree.keys.length === 0) throw new Error('empty inner node');
  if (tree.keys.length > MAX_FANOUT) throw new Error(`node of ${tree.keys.length} entries`);
  if (tree.leaf) {
    if (tree.keys.length !== tree.values.length) throw new Error('keys and values differ in length');
  } else {
    tree.kids.forEach((kid, i) => {
      if (kid.keys[0] !== tree.keys[i]) throw new Error(`separator ${tree.keys[i]} is not the first key ${kid.keys[0]}`);
      checkShape(kid, false);
    });
    if (tree.count !== tree.kids.reduce((n, k) => n + entryCount(k), 0)) throw new Error('count is off');
  }
  for (let i = 1; i < tree.keys.length; i++) if (!(tree.keys[i - 1]! < tree.keys[i]!)) throw new Error('keys not ascending');
}

test('the tree answers as a sorted map would, and a change leaves the tree it started from as it was', (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), fc.option(name, { nil: undefined }), (ops, after) => {
      const model = new Map<string, number>();
      for (const o of ops) o.set ? model.set(o.name, o.value) : model.delete(o.name);
      const expected = [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

      // Every version along the way, with what it held when it was made.
      const versions: [EntryTree<number>, [string, number][]][] = [];
      let tree = emptyEntries<number>();
      for (const o of ops) {
        versions.push([tree, [...entriesAfter(tree)]]);
        tree = applyOps(tree, [o]);
      }
      checkShape(tree);
      t.deepEqual([...entriesAfter(tree)], expected);
      t.is(entryCount(tree), model.size);
      for (const [k, v] of expected) t.is(getEntry(tree, k), v);
      t.deepEqual([...entriesAfter(tree, after)], after === undefined ? expected : expected.filter(([k]) => k > after));
      for (const [old, held] of versions) t.deepEqual([...entriesAfter(old)], held);
    }),
    { numRuns: 150 },
  );
});

test('an insert or a delete copies one path of small nodes, however large the directory (200,000 entries)', (t) => {
  let tree = emptyEntries<{ n: number }>();
  for (let i = 0; i < 200_000; i++) tree = setEntry(tree, `f${String(i * 2).padStart(7, '0')}`, { n: i });
  const base = { tree };
  const inserted = { tree: setEntry(tree, 'f0100001', { n: -1 }) };
  const deleted = { tree: deleteEntry(tree, 'f0100000') };
  // Depth 4 at this size, each level a node of at most 65 keys and 65 kids or values: a few hundred
  // slots, where a directory kept as one object would copy all 200,000.
  const bound = 4 * 3 * (MAX_FANOUT + 1) + 10;
  t.true(copiedBy(base, inserted) <= bound, `insert copied ${copiedBy(base, inserted)} slots`);
  t.true(copiedBy(base, deleted) <= bound, `delete copied ${copiedBy(base, deleted)} slots`);
  t.is(getEntry(inserted.tree, 'f0100001')?.n, -1);
  t.is(getEntry(deleted.tree, 'f0100000'), undefined);
  t.is(entryCount(inserted.tree), 200_001);
  t.is(getEntry(base.tree, 'f0100001'), undefined, 'the old version is unchanged');
});
