import { ClusterView, type ChunkserverLoad } from '../../src/core/cluster-view.js';
import { decideChunksUpTo, decideCreate, decideExtend } from '../../src/core/commands.js';
import type { MasterEvent, UnsequencedEvent } from '../../src/core/events.js';
import { applyAll, lookup, type FileNode, type Namespace } from '../../src/core/namespace.js';
import { UNCHECKED } from '../../src/core/permissions.js';

/**
 * Namespaces and cluster views for unit tests of the master's pure core,
 * built from the real commands and events (no hand-made state).
 */
export const CHUNK = 100;
export const settings = { chunkSize: CHUNK, replication: 3 };
export const TIMEOUT = 1000;
export const NOW = 10_000;

/** Numbers events as the master actor's `persist` does: on from the namespace's seq. */
export function sequence(ns: Namespace, events: UnsequencedEvent[]): MasterEvent[] {
  return events.map((e, i) => ({ ...e, seq: ns.seq + 1 + i }) as MasterEvent);
}

/** Sequences and applies the events a command decided. */
export function run(ns: Namespace, events: UnsequencedEvent[]): Namespace {
  return applyAll(ns, sequence(ns, events));
}

export const chunkOf = (ns: Namespace, path: string, index: number): string => (lookup(ns, path) as FileNode).chunks[index]!.id;
export const versionOf = (ns: Namespace, path: string, index: number): number => (lookup(ns, path) as FileNode).chunks[index]!.version;

/** A file of `size` bytes whose chunk `i` is at `versions[i]` (0: allocated, never written), created and written at `mtime`. */
export function withFile(ns: Namespace, path: string, size: number, versions: number[] = [], mtime = 1): Namespace {
  ns = run(ns, decideCreate(ns, path, true, mtime, UNCHECKED));
  const chunks = Math.max(versions.length, Math.ceil(size / CHUNK));
  if (chunks > 0) ns = run(ns, decideChunksUpTo(ns, path, chunks - 1, 0));
  versions.forEach((version, index) => {
    if (version > 0) ns = run(ns, [{ type: 'ChunkVersionBumped', path, index, chunkId: chunkOf(ns, path, index), version }]);
  });
  return run(ns, decideExtend(ns, path, size, CHUNK, mtime));
}

export const server = (id: string, used = 0, free = 10 * CHUNK): ChunkserverLoad => ({
  id,
  address: `tcp://${id}.ofs:7000`,
  used,
  free,
  capacity: used + free,
  chunkCount: 0,
});

/** A view where `live` servers beat just now and `dead` ones stopped beating longer than the timeout ago. */
export function viewOf(live: (string | ChunkserverLoad)[], dead: string[] = []): ClusterView {
  const view = new ClusterView(TIMEOUT);
  for (const id of dead) view.heartbeat(server(id), NOW - TIMEOUT - 1);
  for (const s of live) view.heartbeat(typeof s === 'string' ? server(s) : s, NOW);
  return view;
}

export const ids = (servers: { id: string }[]): string[] => servers.map((s) => s.id).sort();
