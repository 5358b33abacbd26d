import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '../../src/actors/node-identity.js';

async function dir(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ofs-identity-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('a new directory takes the name it is given, and keeps it when asked again under another', async (t) => {
  const d = await dir(t);
  t.is(await loadOrCreateIdentity(d, 'master', 'master-0'), 'master-0');
  t.is((await readFile(join(d, 'id'), 'utf8')).trim(), 'master-0');
  t.is(await loadOrCreateIdentity(d, 'master'), 'master-0', 'the role, reading it back');
  t.is(await loadOrCreateIdentity(d, 'master', 'master-1'), 'master-0', 'an id once given is kept');
});

test('without a name, a new directory gets PREFIX-8 hex digits', async (t) => {
  t.regex(await loadOrCreateIdentity(await dir(t), 'cs'), /^cs-[0-9a-f]{8}$/);
});

test('an id file that holds no id is replaced; a name that is no id is refused', async (t) => {
  const d = await dir(t);
  await writeFile(join(d, 'id'), 'not an id!\n');
  t.is(await loadOrCreateIdentity(d, 'chunkserver', 'chunkserver-2'), 'chunkserver-2');
  await t.throwsAsync(loadOrCreateIdentity(await dir(t), 'master', 'Master 0'), { message: /invalid process id "Master 0"/ });
});
