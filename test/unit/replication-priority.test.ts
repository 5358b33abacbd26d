import test from 'ava';
import { byReplicationPriority } from '../../src/core/replication-priority.js';

test('re-replication order: one live replica before two; among equals, chunks in use first', (t) => {
  const chunks = [
    { id: 'idle-1-missing', missing: 1, inUse: false },
    { id: 'used-1-missing', missing: 1, inUse: true },
    { id: 'idle-2-missing', missing: 2, inUse: false },
    { id: 'used-2-missing', missing: 2, inUse: true },
  ];
  t.deepEqual(byReplicationPriority(chunks).map((c) => c.id), ['used-2-missing', 'idle-2-missing', 'used-1-missing', 'idle-1-missing']);
  t.is(chunks[0]!.id, 'idle-1-missing', 'the input is left as it was');
});
