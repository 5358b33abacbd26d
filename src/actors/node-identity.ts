import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What an id file may hold: `master-0` (named by `ofs cluster up`) or `cs-1a2b3c4d` (made up by the role). */
const ID_PATTERN = /^[a-z]+-[0-9a-z]+$/;

/**
 * A role's id lives in its data directory, so a process restarted on the same
 * directory is recognised as the same chunkserver (its chunks count again)
 * rather than as a stranger. A directory without one gets `name`: the
 * supervisor passes the name it lists the process under in cluster.json (and
 * logs it as), so that one id means the process everywhere; a role started by
 * hand gets PREFIX-<8 random hex digits>.
 */
export async function loadOrCreateIdentity(dir: string, prefix: string, name = `${prefix}-${randomBytes(4).toString('hex')}`): Promise<string> {
  if (!ID_PATTERN.test(name)) throw new Error(`invalid process id ${JSON.stringify(name)}: expected lowercase letters, a dash, then letters or digits`);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'id');
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (ID_PATTERN.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeFile(file, `${name}\n`, { flag: 'w' });
  return name;
}
