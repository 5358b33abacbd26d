import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { OFS_BIN, patternBytes, sha256, TestCluster } from '../helpers/cluster.js';

const run = promisify(execFile);

const CHUNK = 256 * 1024;
let cluster: TestCluster;
let local: string;

test.before(async () => {
  cluster = await TestCluster.start({ chunkSize: CHUNK, masters: 1 });
  local = await mkdtemp(join(tmpdir(), 'ofs-local-'));
});

test.after.always(async () => {
  await cluster?.stop();
  if (local) await rm(local, { recursive: true, force: true });
});

test('put from stdin, get to stdout and cat, byte for byte', async (t) => {
  const data = patternBytes(3 * CHUNK + 17, 3);
  const put = await cluster.ofs(['put', '-', '/pipes/in'], data);
  t.is(put.code, 0, put.stderr);

  const get = await cluster.ofs(['get', '/pipes/in', '-']);
  t.is(get.code, 0, get.stderr);
  t.is(sha256(get.stdout), sha256(data));

  const cat = await cluster.ofs(['cat', '/pipes/in']);
  t.is(sha256(cat.stdout), sha256(data));
});

test('put and get with local files; stat --json shows chunks and replicas', async (t) => {
  const data = patternBytes(2 * CHUNK + 5, 4);
  await writeFile(join(local, 'src'), data);
  t.is((await cluster.ofs(['put', join(local, 'src'), '/pipes/file'])).code, 0);
  t.is((await cluster.ofs(['get', '/pipes/file', join(local, 'dst')])).code, 0);
  t.is(sha256(await readFile(join(local, 'dst'))), sha256(data));

  const stat = await cluster.ofs(['stat', '--json', '/pipes/file']);
  const parsed = JSON.parse(stat.stdout.toString());
  t.is(parsed.size, data.length);
  t.is(parsed.chunks.length, 3);
  for (const chunk of parsed.chunks) {
    t.regex(chunk.chunkId, /^[0-9a-f]{16}$/);
    t.true(chunk.version >= 1);
    t.is(new Set(chunk.replicas.map((r: { id: string }) => r.id)).size, 3);
  }
});

test('an empty stdin makes an empty file', async (t) => {
  t.is((await cluster.ofs(['put', '-', '/pipes/empty'])).code, 0);
  const cat = await cluster.ofs(['cat', '/pipes/empty']);
  t.is(cat.code, 0);
  t.is(cat.stdout.length, 0);
});

test('status shows the active master and chunkservers with space', async (t) => {
  const status = await cluster.ofs(['status', '--json']);
  t.is(status.code, 0, status.stderr);
  const parsed = JSON.parse(status.stdout.toString());
  t.regex(parsed.master.id, /^master-/);
  t.true(parsed.master.epoch >= 1);
  t.is(parsed.chunkservers.length, 3);
  for (const cs of parsed.chunkservers) t.true(cs.free > 0);
  const text = await cluster.ofs(['status']);
  t.regex(text.stdout.toString(), /active master: +master-\w+ at tcp:\/\/127\.0\.0\.1:\d+/);
});

test('a shell that runs ls, cat and get - with the stdout Node gave it (a socket) can still write after them', async (t) => {
  t.is((await cluster.ofs(['put', '-', '/pipes/shared'], Buffer.from('shared\n'))).code, 0);
  // Ending stdout would shut the socket down for the shell too: its next echo would die of SIGPIPE.
  const script = [`${OFS_BIN} ls /pipes`, 'echo after-ls', `${OFS_BIN} cat /pipes/shared`, 'echo after-cat', `${OFS_BIN} get /pipes/shared -`, 'echo after-get'].join('\n');
  const { stdout } = await run('bash', ['-c', `set -e\n${script}`], { env: { ...process.env, ...cluster.clientEnv() }, timeout: 60_000 });
  for (const marker of ['after-ls', 'after-cat', 'after-get']) t.regex(stdout, new RegExp(`^${marker}$`, 'm'));
  t.is(stdout.split('\n').filter((l) => l === 'shared').length, 2);
});
