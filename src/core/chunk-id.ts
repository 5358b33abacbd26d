import { z } from 'zod';
import { OfsError } from './errors.js';

/**
 * A chunk id is the master's 64-bit chunk handle written as 16 lowercase hex
 * characters. It becomes part of a file name, so anything else is refused before
 * it reaches the file system: "../x" must never name a file outside chunks/.
 */
const CHUNK_ID = /^[0-9a-f]{16}$/;

/** The schema of a chunk id in messages and journaled events. */
export const chunkIdSchema = z.string().regex(CHUNK_ID, 'a chunk id is 16 lowercase hex digits');

/** The id of the master's `n`th chunk. */
export function formatChunkId(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** The number `formatChunkId` made `id` from, or undefined for an id it cannot have made, or one too big for a number to hold exactly. */
export function chunkNumber(id: string): number | undefined {
  if (!isChunkId(id)) return undefined;
  const n = parseInt(id, 16);
  return n <= Number.MAX_SAFE_INTEGER ? n : undefined;
}

/** Fault injection names a chunk's replica actor `chunk-<id>`. */
const REPLICA_ACTOR_PREFIX = 'chunk-';

export function replicaActorName(chunkId: string): string {
  return `${REPLICA_ACTOR_PREFIX}${chunkId}`;
}

/** The chunk id in a replica actor's name, or undefined for any other name. */
export function chunkIdOfReplicaActor(name: string): string | undefined {
  const id = name.startsWith(REPLICA_ACTOR_PREFIX) ? name.slice(REPLICA_ACTOR_PREFIX.length) : undefined;
  return isChunkId(id) ? id : undefined;
}

export function isChunkId(id: unknown): id is string {
  return typeof id === 'string' && CHUNK_ID.test(id);
}

export function assertChunkId(id: unknown): asserts id is string {
  if (!isChunkId(id)) {
    throw new OfsError('EINVAL', `chunk id ${JSON.stringify(id)} is not 16 lowercase hex characters`);
  }
}
