/**
 * The facts the master journals. State is `events.reduce(apply, initial)`;
 * every event is past tense and carries everything `apply` needs, so replay
 * never consults a clock or a random source.
 */
export type MasterEvent =
  | { type: 'DirectoryCreated'; seq: number; path: string; mtime: number }
  | { type: 'FileCreated'; seq: number; path: string; mtime: number }
  | { type: 'ChunkAllocated'; seq: number; path: string; index: number; chunkId: string; version: number }
  | { type: 'FileCompleted'; seq: number; path: string; size: number; mtime: number }
  | { type: 'NodeDeleted'; seq: number; path: string }
  | { type: 'NodeRenamed'; seq: number; from: string; to: string; mtime: number };

/** An event before the journal has placed it in sequence. */
export type UnsequencedEvent = MasterEvent extends infer E ? (E extends MasterEvent ? Omit<E, 'seq'> : never) : never;
