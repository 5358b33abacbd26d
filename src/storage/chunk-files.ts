import { promises as fs } from 'node:fs';
import path from 'node:path';
import { OfsError } from '../core/errors.js';
import { isChunkId } from '../core/chunk-id.js';
import type { ChunkFile } from './chunk-file.js';

/** Where one chunk lives: `<id>.data` holds the bytes, `<id>.meta` version, length and checksums. */
export interface ChunkPaths {
  data: string;
  meta: string;
  /**
   * A meta file rewritten whole (converting format 1, or growing its slots) is
   * written here, then renamed over `meta`, so a crash never leaves it half-written.
   */
  metaTemp: string;
}

export const TEMP_SUFFIX = '.tmp';

export function chunkPaths(chunksDir: string, id: string): ChunkPaths {
  const meta = path.join(chunksDir, `${id}.meta`);
  return { data: path.join(chunksDir, `${id}.data`), meta, metaTemp: meta + TEMP_SUFFIX };
}

/** Sorts the names in a chunks directory: temp files to delete, and the ids with a data or meta file. */
export function classifyChunkFiles(names: readonly string[]): {
  temps: string[];
  withData: Set<string>;
  withMeta: Set<string>;
} {
  const temps: string[] = [];
  const withData = new Set<string>();
  const withMeta = new Set<string>();
  for (const name of names) {
    if (name.endsWith(TEMP_SUFFIX)) {
      temps.push(name);
      continue;
    }
    const match = /^(.*)\.(data|meta)$/.exec(name);
    if (!match || !isChunkId(match[1])) continue;
    (match[2] === 'data' ? withData : withMeta).add(match[1]);
  }
  return { temps, withData, withMeta };
}

/** Reads into all of `buf` from `position`; returns the bytes read, fewer only at end of file. */
export async function readFully(fh: ChunkFile, buf: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

export async function writeFully(fh: ChunkFile, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Removes a file; one that is already gone is not an error. */
export async function unlinkIfPresent(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}

/**
 * Turns a Node file-system error into an OfsError. `context` names the chunk,
 * the operation and the offset. A full disk or quota is ENOSPC, which the master
 * answers by placing the chunk elsewhere; EIO means the disk failed under the
 * chunk, which for the master is the same as corrupt bytes: re-replicate.
 */
export function toChunkError(err: unknown, context: string): OfsError {
  if (err instanceof OfsError) return err;
  const errno = errnoOf(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new OfsError('ENOSPC', `${context}: the chunkserver's disk is full (${detail})`);
  }
  if (errno === 'EIO') {
    return new OfsError('ECORRUPT', `${context}: the disk reported an I/O error (${detail})`);
  }
  return new OfsError('EINTERNAL', `${context}: ${detail}`);
}
