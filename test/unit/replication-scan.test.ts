import test from 'ava';
import type { ChunkOwner } from '../../src/core/namespace.js';
import { ReplicationScan } from '../../src/core/replication-scan.js';

const owners = (n: number) => new Map<string, ChunkOwner>(Array.from({ length: n }, (_, i) => [`c${i}`, { path: `/f${i}`, index: 0, version: 1 }]));

test('a tick looks at most at perTick suspects and perTick chunks of the walk, and the walk reaches every chunk in chunks / perTick ticks', (t) => {
  const table = owners(1000);
  const scan = new ReplicationScan(100);
  const seen = new Set<string>();
  for (let tick = 0; tick < 10; tick++) {
    const picked = scan.next(table);
    t.is(picked.size, 100);
    for (const id of picked.keys()) seen.add(id);
  }
  t.is(seen.size, 1000, 'every chunk once in ten ticks');
  t.true(scan.next(table).has('c0'), 'and then the walk starts over');
});

test('suspects come first, gone ones are skipped, and a table smaller than a slice is walked once a tick', (t) => {
  const table = owners(5);
  const scan = new ReplicationScan(3);
  scan.suspect(['c4', 'gone', 'c3']);
  const picked = [...scan.next(table).keys()];
  t.deepEqual(picked.slice(0, 2), ['c4', 'c3']);
  t.false(picked.includes('gone'));
  t.is(new Set(picked).size, picked.length);
  t.deepEqual([...new ReplicationScan(10).next(table).keys()], ['c0', 'c1', 'c2', 'c3', 'c4']);
});

test('the walk survives chunks added and removed between ticks', (t) => {
  const table = owners(6);
  const scan = new ReplicationScan(3);
  t.deepEqual([...scan.next(table).keys()], ['c0', 'c1', 'c2']);
  table.delete('c3');
  table.set('c6', { path: '/f6', index: 0, version: 1 });
  t.deepEqual([...scan.next(table).keys()], ['c4', 'c5', 'c6']);
});
