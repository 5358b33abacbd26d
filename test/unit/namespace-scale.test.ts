import test from 'ava';
import assert from 'node:assert/strict';
import { applyTracked, ChunkTable } from '../../src/core/chunk-table.js';
import { decideChunksUpTo, decideCreate, decideDelete, decideExtend, decideRename } from '../../src/core/commands.js';
import type { UnsequencedEvent } from '../../src/core/events.js';
import { list } from '../../src/core/master-queries.js';
import { MAX_HEADER_BYTES } from '../../src/transport/envelope.js';
import { loadNamespace } from '../../src/core/namespace-snapshot.js';
import type { Namespace } from '../../src/core/namespace.js';
import { copiedBy } from '../helpers/copied.js';
import { sequence } from '../helpers/master-state.js';
import { seedDir, seedFileName, seedPieces, type Shape } from '../helpers/seed-namespace.js';
import { UNCHECKED } from '../../src/core/permissions.js';

/** What each kind of operation copies of a namespace of `files` files, in slots. */
function costs(files: number, shape: Shape): Record<string, number> {
  const ns = loadNamespace(seedPieces(files, [shape]));
  const table = ChunkTable.of(ns);
  const dir = shape === 'one-dir' ? '/big' : seedDir(files / 200);
  const existing = `${dir}/${seedFileName(shape === 'one-dir' ? files / 2 : (files / 200) * 100)}`;
  const cost = (decide: (ns: Namespace) => UnsequencedEvent[]): number => {
    // Each on its own copy of the table: the operations are alternatives, not a sequence.
    const next = applyTracked(ns, ChunkTable.of(ns), sequence(ns, decide(ns))).ns;
    return copiedBy(ns, next);
  };
  assert.equal(table.files, files, 'every file loaded');
  return {
    create: cost((n) => decideCreate(n, `${dir}/new`, false, 5, UNCHECKED)),
    allocate: cost((n) => decideChunksUpTo(n, existing, 1, 0)),
    extend: cost((n) => decideExtend(n, existing, 20, 100, 5)),
    rename: cost((n) => decideRename(n, existing, `${dir}/renamed`, 5, UNCHECKED)),
    delete: cost((n) => decideDelete(n, existing, false, 5, UNCHECKED)),
  };
}

for (const shape of ['one-dir', 'tree'] as const) {
  test(`${shape}: an operation on a namespace of 100,000 files copies about what it copies at 1,000 (a path of small nodes)`, (t) => {
    const small = costs(1_000, shape);
    const large = costs(100_000, shape);
    t.log(`slots copied at 1,000 files: ${JSON.stringify(small)}; at 100,000: ${JSON.stringify(large)}`);
    for (const op of Object.keys(small)) {
      // One more level of the entry tree (64 wide) at most: never anything like the 100-fold growth of the namespace.
      t.true(large[op]! <= small[op]! * 2 + 300, `${op}: ${small[op]} slots at 1,000 files, ${large[op]} at 100,000`);
      t.true(large[op]! < 2_000, `${op} copied ${large[op]} slots`);
    }
  });
}

test('a page of a directory of 100,000 entries, from anywhere in it', (t) => {
  const ns = loadNamespace(seedPieces(100_000, ['one-dir']));
  const page = list(ns, '/big', 'f0099990', 5);
  t.deepEqual(page.entries.map((e) => e.name), ['f0099991', 'f0099992', 'f0099993', 'f0099994', 'f0099995']);
  t.true(page.more);
  t.false(list(ns, '/big', 'f0099995', 5).more);
  // A page without a limit is the most one reply holds: 10,000 entries would pass 1 MiB of JSON.
  const full = list(ns, '/big');
  t.true(full.more && full.entries.length > 5_000 && Buffer.byteLength(JSON.stringify(full)) < MAX_HEADER_BYTES - 64 * 1024, `${full.entries.length} entries`);
  t.deepEqual(list(ns, '/big', full.entries.at(-1)!.name, 1).entries.map((e) => e.name), [`f${String(full.entries.length).padStart(7, '0')}`], 'the next page goes on from there');
});
