import { z } from 'zod';
import { chunkIdSchema } from './chunk-id.js';
import { MAX_MODE, NAME_PATTERN } from './permissions.js';

/**
 * The facts the master journals. State is `events.reduce(apply, initial)`;
 * every event is past tense and carries everything `apply` needs, so replay
 * never consults a clock or a random source. The schema is the one definition:
 * the standby validates every event it receives against it.
 */
const seq = z.number().int().positive();
const path = z.string().startsWith('/');
const time = z.number().int().nonnegative();
/** Set by the command that produced the event, so a retried request is recognised after a failover. */
const requestId = z.string().max(64).optional();
/**
 * The epoch of the master that sequenced the event (journals older than this
 * field lack it). A master of one epoch sequences each seq once, so two
 * journals holding the same (seq, epoch) agree on every event up to it: a
 * restarted standby resumes from there instead of taking a whole snapshot.
 */
const epoch = z.number().int().positive().optional();

/** A user or group name (permissions.ts NAME_PATTERN). */
const name = z.string().regex(NAME_PATTERN);
const mode = z.number().int().min(0).max(MAX_MODE);
/**
 * Who owns what a create or mkdir made. Absent in journals older than
 * permissions: replay gives such a node to the superuser (legacyOwnership).
 */
const owned = { owner: name.optional(), group: name.optional(), mode: mode.optional() };

export const masterEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('DirectoryCreated'), seq, epoch, path, mtime: time, ...owned, requestId }),
  z.object({ type: z.literal('FileCreated'), seq, epoch, path, mtime: time, ...owned, requestId }),
  /** chmod. */
  z.object({ type: z.literal('ModeChanged'), seq, epoch, path, mode, requestId }),
  /** chown: a new owner, a new group, or both. */
  z.object({ type: z.literal('OwnerChanged'), seq, epoch, path, owner: name.optional(), group: name.optional(), requestId }),
  z.object({
    type: z.literal('ChunkAllocated'),
    seq,
    epoch,
    path,
    index: z.number().int().nonnegative(),
    chunkId: chunkIdSchema,
    /** 0: on no chunkserver yet; the first lease creates the replicas at version 1. */
    version: z.number().int().nonnegative(),
    requestId,
  }),
  /** A new lease (GFS 4.5), or a replica reported a version the master missed. */
  z.object({
    type: z.literal('ChunkVersionBumped'),
    seq,
    epoch,
    path,
    index: z.number().int().nonnegative(),
    chunkId: chunkIdSchema,
    version: z.number().int().positive(),
    requestId,
  }),
  /** The file is at least `size` bytes long; a size never shrinks but by FileCreated. */
  z.object({ type: z.literal('FileExtended'), seq, epoch, path, size: z.number().int().nonnegative(), mtime: time, requestId }),
  z.object({ type: z.literal('NodeDeleted'), seq, epoch, path, requestId }),
  z.object({ type: z.literal('NodeRenamed'), seq, epoch, from: path, to: path, mtime: time, requestId }),
]);

export type MasterEvent = z.infer<typeof masterEventSchema>;

/** An event before the journal has placed it in sequence. */
export type UnsequencedEvent = MasterEvent extends infer E ? (E extends MasterEvent ? Omit<E, 'seq'> : never) : never;

/** Names one event across masters' journals (see `epoch`). */
export const eventIdSchema = z.object({ seq, epoch: z.number().int().positive() });
export type EventId = z.infer<typeof eventIdSchema>;

/** The event's id, if it carries its epoch. */
export function eventId(event: MasterEvent): EventId | undefined {
  return event.epoch === undefined ? undefined : { seq: event.seq, epoch: event.epoch };
}
