import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A role's id lives in its data directory, so a process restarted on the same
 * directory is recognised as the same chunkserver (its chunks count again)
 * rather than as a stranger.
 */
export async function loadOrCreateIdentity(dir: string, prefix: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'id');
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[a-z]+-[0-9a-f]{8}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = `${prefix}-${randomBytes(4).toString('hex')}`;
  await writeFile(file, `${id}\n`, { flag: 'w' });
  return id;
}
