import test from 'ava';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { applyTracked, checkpointDue, ChunkTable } from '../../src/core/chunk-table.js';
import { decideChunksUpTo, decideCollectGarbage, decideCreate, decideDelete, decideMkdir, decideRename, decideUndelete } from '../../src/core/commands.js';
import type { UnsequencedEvent } from '../../src/core/events.js';
import { countFiles } from '../../src/core/master-queries.js';
import { emptyNamespace, lookup, ownedChunks, type FileNode, type Namespace } from '../../src/core/namespace.js';
import { chunkOf, sequence, withFile } from '../helpers/master-state.js';
import { UNCHECKED } from '../../src/core/permissions.js';

function cluster(): Namespace {
  let ns = emptyNamespace;
  ns = withFile(ns, '/d/f', 150, [1, 1]);
  ns = withFile(ns, '/d/sub/g', 10, [1]);
  ns = withFile(ns, '/h', 10, [1]);
  return withFile(ns, '/empty', 0);
}

/** Applies a command's events as the master does, and says what the table reports. */
function step(ns: Namespace, table: ChunkTable, events: UnsequencedEvent[]) {
  return applyTracked(ns, table, sequence(ns, events));
}

test('a delete detaches the chunks below it (they stay owned in the trash); the GC orphans them', (t) => {
  let ns = cluster();
  const table = ChunkTable.of(ns);
  const dChunks = [...ownedChunks(ns, '/d').keys()].sort();
  t.is(dChunks.length, 3);
  const deleted = step(ns, table, decideDelete(ns, '/d', true, 100, UNCHECKED));
  t.deepEqual(deleted.changes.detached.sort(), dChunks, 'moved into the trash: leases go');
  t.deepEqual(deleted.changes.orphaned, [], 'but a file in the trash still owns them');
  ns = deleted.ns;
  const collected = step(ns, table, decideCollectGarbage(ns, 10_000, 1000));
  t.deepEqual(collected.changes.orphaned.sort(), dChunks);
  t.deepEqual([...table.chunks.keys()].filter((id) => dChunks.includes(id)), []);
  t.is(table.files, 2);
});

test('overwriting a file orphans its chunks; a rename moves them to the new path; other changes leave them', (t) => {
  const ns = cluster();
  const h = chunkOf(ns, '/h', 0);
  const g = chunkOf(ns, '/d/sub/g', 0);
  const changes = (events: UnsequencedEvent[]) => step(ns, ChunkTable.of(ns), events).changes;
  t.deepEqual(changes(decideCreate(ns, '/h', true, 5, UNCHECKED)), { detached: [h], orphaned: [h] });
  t.deepEqual(changes(decideRename(ns, '/h', '/h2', 5, UNCHECKED)), { detached: [h], orphaned: [] });
  const table = ChunkTable.of(ns);
  step(ns, table, decideRename(ns, '/d/sub', '/sub', 5, UNCHECKED));
  t.deepEqual(table.chunks.get(g), { path: '/sub/g', index: 0, version: 1 });
  t.deepEqual(changes(decideCreate(ns, '/empty', true, 5, UNCHECKED)), { detached: [], orphaned: [] }, 'an empty file has no chunks');
  t.deepEqual(changes(decideCreate(ns, '/new/file', false, 5, UNCHECKED)), { detached: [], orphaned: [] });
  t.deepEqual(changes(decideChunksUpTo(ns, '/h', 3, 0)), { detached: [], orphaned: [] });
});

test('an event that does not fit leaves the namespace and the table as they were', (t) => {
  const ns = cluster();
  const table = ChunkTable.of(ns);
  const before = [...table.chunks];
  const events = [...decideDelete(ns, '/h', false, 5, UNCHECKED), { type: 'FileExtended', path: '/nope', size: 1, mtime: 1 } as const];
  t.throws(() => step(ns, table, events), { code: 'EINTERNAL' });
  t.deepEqual([...table.chunks], before);
  t.is(table.files, 4);
});

const NAMES = ['/a', '/a/b', '/a/b/c', '/b', '/z'];
const command = fc.oneof(
  fc.record({ op: fc.constant('mkdir' as const), path: fc.constantFrom(...NAMES) }),
  { arbitrary: fc.record({ op: fc.constant('create' as const), path: fc.constantFrom(...NAMES), overwrite: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('chunks' as const), path: fc.constantFrom(...NAMES), index: fc.nat(3) }), weight: 3 },
  fc.record({ op: fc.constant('delete' as const), path: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('undelete' as const), path: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('rename' as const), from: fc.constantFrom(...NAMES), to: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('bump' as const), path: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('gc' as const) }),
);
type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

function decide(ns: Namespace, c: Command, now: number): UnsequencedEvent[] {
  switch (c.op) {
    case 'mkdir':
      return decideMkdir(ns, c.path, true, now, UNCHECKED);
    case 'create':
      return decideCreate(ns, c.path, c.overwrite, now, UNCHECKED);
    case 'chunks':
      return decideChunksUpTo(ns, c.path, c.index, 0);
    case 'delete':
      return decideDelete(ns, c.path, true, now, UNCHECKED);
    case 'undelete':
      return decideUndelete(ns, c.path, now, UNCHECKED);
    case 'rename':
      return decideRename(ns, c.from, c.to, now, UNCHECKED);
    case 'gc':
      return decideCollectGarbage(ns, now, 3);
    case 'bump': {
      const file = lookup(ns, c.path);
      const chunk = file?.kind === 'file' ? (file as FileNode).chunks[0] : undefined;
      return chunk ? [{ type: 'ChunkVersionBumped', path: c.path, index: 0, chunkId: chunk.id, version: chunk.version + 1 }] : [];
    }
  }
}

test('kept event by event, the table always equals one built by walking the whole namespace', (t) => {
  // How often a move or a removal took chunks with it: the property must have been put to the test.
  let movedChunks = 0;
  fc.assert(
    fc.property(fc.array(command, { minLength: 20, maxLength: 80 }), (commands) => {
      let ns = emptyNamespace;
      const table = ChunkTable.of(ns);
      commands.forEach((c, now) => {
        let events: UnsequencedEvent[];
        try {
          events = decide(ns, c, now);
        } catch {
          return; // refused, as the master would refuse it
        }
        const stepped = step(ns, table, events);
        ns = stepped.ns;
        movedChunks += stepped.changes.detached.length;
        // Thrown, not asserted, so that fast-check shrinks a failure to its shortest history.
        const walked = ChunkTable.of(ns);
        if (!isDeepStrictEqual(new Map(table.chunks), new Map(walked.chunks)) || table.files !== countFiles(ns)) {
          throw new Error(`after ${JSON.stringify(c)}: kept ${JSON.stringify([...table.chunks])} (${table.files} files), walked ${JSON.stringify([...walked.chunks])} (${countFiles(ns)})`);
        }
      });
    }),
    { numRuns: 300 },
  );
  t.true(movedChunks > 100, `only ${movedChunks} chunks were moved or removed`);
});

test('a checkpoint is due every 10,000 events, or every as many events as there are files if that is more', (t) => {
  const table = ChunkTable.of(cluster());
  t.false(checkpointDue(9_999, 10_000, table));
  t.true(checkpointDue(10_000, 10_000, table));
  const large = { files: 1_000_000 } as ChunkTable;
  t.false(checkpointDue(999_999, 10_000, large), 'a walk of a million files every 10,000 events would cost more than the events');
  t.true(checkpointDue(1_000_000, 10_000, large));
});
