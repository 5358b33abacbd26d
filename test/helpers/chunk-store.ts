import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { ChunkStore, type ChunkStoreOptions } from '../../src/storage/chunk-store.js';

/** The maximum chunk size of test stores: big enough for several blocks, small enough to fill. */
export const TEST_MAX_CHUNK_SIZE = 1024 * 1024;

export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ofs-chunkstore-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a store that the test closes when it ends (it keeps data and meta files open between writes). */
export async function openAt(t: ExecutionContext, dir: string, opts: ChunkStoreOptions = { maxChunkSize: TEST_MAX_CHUNK_SIZE }): Promise<ChunkStore> {
  const store = await ChunkStore.open(dir, opts);
  t.teardown(() => store.close());
  return store;
}

/** Deterministic, non-repeating-per-block bytes, so a misplaced block shows. */
export function pattern(size: number, seed = 1): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}
