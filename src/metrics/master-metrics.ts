import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LeaseMetrics } from '../actors/master/lease-manager.js';
import type { ReplicationMetrics } from '../actors/master/replication-manager.js';
import type { JournalMetrics } from '../storage/journal.js';

/** Group-commit sizes: one event alone up to the thousands a busy master's batch holds. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];
/** An fdatasync: tens of microseconds (a cache with power-loss protection) to a second (a disk under load). */
const SYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface MasterMetrics {
  journal: JournalMetrics;
  leases: LeaseMetrics;
  replication: ReplicationMetrics;
}

/** The counters of a master, handed to its journal and its actors. */
export function masterMetrics(registry: Registry): MasterMetrics {
  const registers = [registry];
  const syncs = new Histogram({ name: 'ofs_journal_sync_seconds', help: 'One journal write and fdatasync (a group commit)', buckets: SYNC_BUCKETS, registers });
  const batches = new Histogram({ name: 'ofs_journal_group_commit_records', help: 'Records made durable by one journal fdatasync', buckets: BATCH_BUCKETS, registers });
  const grants = new Counter({ name: 'ofs_lease_grants_total', help: 'Chunk leases granted (each bumps the chunk version on its replicas)', registers });
  const backlog = new Gauge({ name: 'ofs_rereplication_backlog_chunks', help: 'Chunks short of replicas at the last re-replication check (active master)', registers });
  const copies = new Counter({ name: 'ofs_rereplication_copies_total', help: 'Chunk copies made between chunkservers (re-replication and balancing)', registers });
  const copied = new Counter({ name: 'ofs_rereplication_copied_bytes_total', help: 'Bytes of the chunk copies made between chunkservers', registers });
  return {
    journal: {
      synced(seconds, records) {
        syncs.observe(seconds);
        batches.observe(records);
      },
    },
    leases: { granted: () => grants.inc() },
    replication: {
      backlog: (chunks) => backlog.set(chunks),
      copied(bytes) {
        copies.inc();
        copied.inc(bytes);
      },
    },
  };
}

/** What a master's gauges read when scraped. */
export interface MasterGaugeSources {
  isActive(): boolean;
  /** Each attached standby and how many events it has yet to acknowledge (the active master's view). */
  standbyLags(): { standby: string; lag: number }[];
}

/** Gauges read at scrape time from the master's state, so they are never stale and cost nothing between scrapes. */
export function masterGauges(registry: Registry, sources: MasterGaugeSources): void {
  const registers = [registry];
  new Gauge({
    name: 'ofs_master_active',
    help: '1 on the active master, 0 on a standby',
    registers,
    collect() {
      this.set(sources.isActive() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ofs_standby_lag_events',
    help: 'Events an attached standby has yet to acknowledge, per standby (on the active master)',
    labelNames: ['standby'],
    registers,
    collect() {
      // A standby that left must not linger at its last value.
      this.reset();
      for (const { standby, lag } of sources.standbyLags()) this.set({ standby }, lag);
    },
  });
}
