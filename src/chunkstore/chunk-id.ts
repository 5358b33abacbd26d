import { OfsError } from '../core/errors.js';

/**
 * A chunk id is the master's 64-bit chunk handle written as 16 lowercase hex
 * characters. It becomes part of a file name, so anything else is refused before
 * it reaches the file system: "../x" must never name a file outside chunks/.
 */
const CHUNK_ID = /^[0-9a-f]{16}$/;

export function isChunkId(id: unknown): id is string {
  return typeof id === 'string' && CHUNK_ID.test(id);
}

export function assertChunkId(id: unknown): asserts id is string {
  if (!isChunkId(id)) {
    throw new OfsError('EINVAL', `chunk id ${JSON.stringify(id)} is not 16 lowercase hex characters`);
  }
}
