import test from 'ava';
import { HeldLeases, type LeaseTerms } from '../../src/actors/chunkserver/held-leases.js';
import type { OfsError } from '../../src/core/errors.js';
import { formatChunkId } from '../../src/core/chunk-id.js';
import { REPORT_PART_CHUNKS } from '../../src/transport/protocol.js';
import { LeaseTable } from '../../src/core/granted-leases.js';

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

test('a primary trusts its lease for less time than the master: wherever it still orders mutations, the master counts the lease in force for 200 ms more', (t) => {
  const leaseMs = 10_000;
  const master = new LeaseTable();
  const primary = new HeldLeases();
  master.grant({ path: '/f', index: 0, chunkId: CHUNK, version: 4, primary: b, replicas: [b, c], expiresAt: leaseMs }, 0);
  primary.grant(CHUNK, 4, terms([c]), 0);
  const orders = (now: number) => {
    try {
      primary.check(CHUNK, 4, now);
      return true;
    } catch {
      return false;
    }
  };
  const checkUntil = (end: number) => {
    let ordered = 0;
    for (let now = 0; now <= end; now += 10) {
      if (!orders(now)) continue;
      ordered++;
      t.truthy(master.current(CHUNK, now + 200), `the primary orders at ${now} ms, the master's lease ends before ${now + 200} ms`);
    }
    return ordered;
  };
  t.true(checkUntil(leaseMs) > 0);
  // The primary asked for an extension at 5,000 ms; the master extended it on receipt, later.
  primary.extend(CHUNK, 4, leaseMs, 5_000);
  t.true(master.extend(CHUNK, 4, b.id, 5_050, leaseMs));
  t.true(checkUntil(2 * leaseMs) > 0);
  t.false(orders(5_000 + leaseMs - 200), 'no order in the last 200 ms of the extended lease');
});

test('a heartbeat asks to extend at most one message of leases, the most recently used: a burst of small files lets the rest expire', (t) => {
  const leases = new HeldLeases();
  const count = REPORT_PART_CHUNKS + 100;
  for (let i = 0; i < count; i++) leases.grant(formatChunkId(i + 1), 1, terms([b, c]), i);
  leases.check(formatChunkId(1), 1, count); // the first granted, used again just now
  const wanted = leases.wanted(count + 1).map((l) => l.chunkId);
  t.is(wanted.length, REPORT_PART_CHUNKS);
  t.true(wanted.includes(formatChunkId(1)), 'the one used just now');
  t.false(wanted.includes(formatChunkId(2)), 'the least recently used are left to expire');
  t.true(wanted.includes(formatChunkId(count)));
});
