import test from 'ava';
import { HeldLeases, type LeaseTerms } from '../../src/actors/chunkserver/held-leases.js';
import type { OfsError } from '../../src/core/errors.js';

const CHUNK = '0123456789abcdef';
const b = { id: 'cs-b', address: 'tcp://127.0.0.1:7002' };
const c = { id: 'cs-c', address: 'tcp://127.0.0.1:7003' };
const terms = (secondaries: LeaseTerms['secondaries']): LeaseTerms => ({ leaseMs: 10_000, secondaries, chunkSize: 1 << 20 });

test('a lease carries the replica set and chunk size the master granted it with, through every extension', (t) => {
  const leases = new HeldLeases();
  leases.grant(CHUNK, 4, terms([b, c]), 0);
  t.like(leases.check(CHUNK, 4, 1), { secondaries: [b, c], chunkSize: 1 << 20 });
  leases.extend(CHUNK, 4, 10_000, 8_000);
  t.like(leases.check(CHUNK, 4, 16_000), { secondaries: [b, c], chunkSize: 1 << 20 }, 'extended, with the same replicas');
});

test('a lease granted again after a replica failed names only the replicas that took the new version', (t) => {
  const leases = new HeldLeases();
  leases.grant(CHUNK, 4, terms([b, c]), 0);
  leases.grant(CHUNK, 5, terms([c]), 100);
  t.like(leases.check(CHUNK, 5, 200), { secondaries: [c] });
  // The old version's lease, and with it the old replica set, is gone.
  t.is(t.throws<OfsError>(() => leases.check(CHUNK, 4, 200))?.code, 'ELEASE');
});
