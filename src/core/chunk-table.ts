import type { MasterEvent } from './events.js';
import { applyStep, lookup, ownedChunks, walkFiles, type ChunkOwner, type ChunkOwners, type FileNode, type Namespace } from './namespace.js';

/** A namespace with its chunk table, kept together from load to takeover. */
export interface TrackedNamespace {
  ns: Namespace;
  table: ChunkTable;
}

/** What one event did to the table: chunks that left their file (leases go), and of those, chunks no file owns any more. */
export interface ChunkChanges {
  detached: string[];
  orphaned: string[];
}

/**
 * The master's chunk table, GFS's "chunk handle → file and index": which file
 * owns each chunk, at which index and version, and how many files there are.
 * It is derived from the namespace but kept up to date event by event, so a
 * change costs what it touches (a file, or the subtree a rename or delete
 * moves) and never a walk of the whole namespace. Built by one walk when a
 * namespace is loaded.
 */
export class ChunkTable {
  private readonly owners = new Map<string, ChunkOwner>();
  private fileCount = 0;

  /** By a walk of the whole namespace: once, when one is installed or upgraded. */
  static of(ns: Namespace): ChunkTable {
    const table = new ChunkTable();
    walkFiles(ns, '/', (path, file) => table.addFile(path, file));
    return table;
  }

  /** Counts a file that is there and is not yet in the table (a namespace being loaded). */
  addFile(path: string, file: FileNode): void {
    this.fileCount++;
    this.addChunks(path, file.chunks, 0);
  }

  /** Counts chunks of a file counted already, the first at index `from` (a snapshot's "+" entry). */
  addChunks(path: string, chunks: readonly { id: string; version: number }[], from: number): void {
    chunks.forEach((c, i) => this.owners.set(c.id, { path, index: from + i, version: c.version }));
  }

  get chunks(): ChunkOwners {
    return this.owners;
  }

  get files(): number {
    return this.fileCount;
  }

  /** Follows `event`, given the namespace just before it. */
  track(before: Namespace, event: MasterEvent): ChunkChanges {
    switch (event.type) {
      case 'FileCreated':
        // A create over a file replaces it: its chunks go, the count stays.
        if (lookup(before, event.path)) return this.drop(before, event.path, false);
        this.fileCount++;
        return none;
      case 'ChunkAllocated':
        this.owners.set(event.chunkId, { path: event.path, index: event.index, version: event.version });
        return none;
      case 'ChunkVersionBumped':
        this.owners.set(event.chunkId, { path: event.path, index: event.index, version: event.version });
        return none;
      case 'NodeDeleted':
        return this.drop(before, event.path, true);
      case 'NodeRenamed': {
        const prefix = event.from.length;
        const moved = ownedChunks(before, event.from);
        for (const [id, owner] of moved) this.owners.set(id, { ...owner, path: event.to + owner.path.slice(prefix) });
        return { detached: [...moved.keys()], orphaned: [] };
      }
      default:
        return none;
    }
  }

  /** Forgets the files at or below `path` (and counts them out if `counted`). */
  private drop(before: Namespace, path: string, counted: boolean): ChunkChanges {
    const orphaned: string[] = [];
    walkFiles(before, path, (_, file) => {
      if (counted) this.fileCount--;
      for (const c of file.chunks) if (this.owners.delete(c.id)) orphaned.push(c.id);
    });
    return { detached: orphaned, orphaned };
  }
}

const none: ChunkChanges = { detached: [], orphaned: [] };

/**
 * Applies `events` to `ns` and has `table` follow them. All events are
 * applied before the table moves, so an event that does not fit (a bug,
 * thrown by `apply`) leaves both as they were.
 */
export function applyTracked(ns: Namespace, table: ChunkTable, events: readonly MasterEvent[]): { ns: Namespace; changes: ChunkChanges } {
  // The state before each step: a run of allocations is one step (applyStep), and tracking one needs no state.
  const steps: { before: Namespace; events: readonly MasterEvent[] }[] = [];
  let state = ns;
  for (let i = 0; i < events.length; ) {
    const step = applyStep(state, events, i);
    steps.push({ before: state, events: events.slice(i, step.end) });
    ({ ns: state, end: i } = step);
  }
  const changes: ChunkChanges = { detached: [], orphaned: [] };
  for (const { before, events: stepEvents } of steps) {
    for (const event of stepEvents) {
      const { detached, orphaned } = table.track(before, event);
      changes.detached.push(...detached);
      changes.orphaned.push(...orphaned);
    }
  }
  return { ns: state, changes };
}

/**
 * Whether `sinceCheckpoint` events call for a checkpoint: every `every`
 * events, or every as many events as there are files if that is more. A
 * checkpoint walks the whole namespace, so spacing them by its size keeps
 * their cost per event flat (HDFS checkpoints every million transactions);
 * the journal to replay after one stays proportional to the namespace.
 */
export function checkpointDue(sinceCheckpoint: number, every: number, table: ChunkTable): boolean {
  return sinceCheckpoint >= Math.max(every, table.files);
}
