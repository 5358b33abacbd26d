import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OFS_BIN, patternBytes, sha256, TestCluster } from '../helpers/cluster.js';
import { Terminal } from '../helpers/terminal.js';

// What a person sees: a bar in a terminal, nothing in a pipe. 64 MiB: long
// enough to draw, short enough for CI.
const SIZE = 64 * 2 ** 20;
let cluster: TestCluster;
let local: string;
let data: Buffer;

test.before(async () => {
  cluster = await TestCluster.start({ chunkSize: 16 * 2 ** 20, masters: 1 });
  local = await mkdtemp(join(tmpdir(), 'ofs-progress-'));
  data = patternBytes(SIZE, 21);
  await writeFile(join(local, 'big'), data);
});

test.after.always(async () => {
  await cluster?.stop();
  if (local) await rm(local, { recursive: true, force: true });
});

async function inTerminal(t: { teardown: (f: () => Promise<void>) => void }, command: string): Promise<string> {
  const terminal = await Terminal.start(command, { env: cluster.clientEnv() });
  t.teardown(() => terminal.close());
  return terminal.waitFor(/exit code \d+/, 120_000);
}

test('in a terminal, put and get draw a bar with MiB/s and ETA that ends at 100%', async (t) => {
  const screen = await inTerminal(t, `node ${OFS_BIN} put ${join(local, 'big')} /progress/big && node ${OFS_BIN} get /progress/big ${join(local, 'copy')}`);
  t.log(screen.trimEnd());
  t.regex(screen, /^put \[=+\] 100% \| 64\.0 MiB of 64\.0 MiB \| \d+\.\d MiB\/s \| ETA \d+s$/m);
  t.regex(screen, /^get \[=+\] 100% \| 64\.0 MiB of 64\.0 MiB \| \d+\.\d MiB\/s \| ETA \d+s$/m);
  t.regex(screen, /^exit code 0$/m);
  t.is(sha256(await readFile(join(local, 'copy'))), sha256(data));
});

test('put from a pipe in a terminal: bytes and MiB/s, no bar without a size', async (t) => {
  const screen = await inTerminal(t, `cat ${join(local, 'big')} | node ${OFS_BIN} put - /progress/piped`);
  t.regex(screen, /^put 64\.0 MiB \| \d+\.\d MiB\/s$/m);
  t.regex(screen, /^exit code 0$/m);
});

test('--quiet in a terminal: nothing but the exit code on the screen', async (t) => {
  const screen = await inTerminal(t, `node ${OFS_BIN} put --quiet ${join(local, 'big')} /progress/quiet && node ${OFS_BIN} get -q /progress/quiet ${join(local, 'quiet')}`);
  t.is(screen.trim(), 'exit code 0');
});

test('with stderr piped (no terminal), put and get write not one byte of a bar', async (t) => {
  const put = await cluster.ofs(['put', join(local, 'big'), '/progress/no-tty']);
  t.is(put.code, 0, put.stderr);
  t.is(put.stderr, '');
  const get = await cluster.ofs(['get', '/progress/no-tty', join(local, 'no-tty')]);
  t.is(get.code, 0, get.stderr);
  t.is(get.stderr, '');
  t.is(sha256(await readFile(join(local, 'no-tty'))), sha256(data));
});
