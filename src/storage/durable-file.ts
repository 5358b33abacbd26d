import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OfsError } from '../core/errors.js';

/** A new file's name, or a rename, in `dir` survives a crash only once the directory itself is fsynced. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A temp name of this process's own beside `path`: two writers of one file never share one. */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Replaces `path` with `bytes` (given whole, or one buffer at a time) so that after a crash it holds the old bytes
 * or the new ones, never a mix, and the new ones once this resolves: write a
 * temp file, fsync it, rename it over, fsync the directory. A failed write
 * leaves no temp file behind. `length`, at least the bytes' own, is the
 * file's size: past the bytes it reads as zeros, a hole that takes no disk.
 */
export async function writeFileDurably(path: string, bytes: Buffer | string | Iterable<Buffer>, tempPath = tempPathFor(path), length?: number): Promise<void> {
  const handle = await open(tempPath, 'w');
  try {
    // writeFile on a handle writes at its position, so pieces follow one another.
    let written = 0;
    for (const piece of typeof bytes === 'string' || Buffer.isBuffer(bytes) ? [bytes] : bytes) {
      await handle.writeFile(piece);
      written += Buffer.byteLength(piece);
    }
    if (length !== undefined) {
      if (length < written) throw new OfsError('EINTERNAL', `${path}: a length of ${length} bytes would cut off ${written - length} of the ${written} written`);
      await handle.truncate(length);
    }
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tempPath).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(tempPath, path);
  await syncDirectory(dirname(path));
}
