import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { OFS_BIN, patternBytes, TestCluster } from '../helpers/cluster.js';

const run = promisify(execFile);

test("the README's CLI example runs as written, with ofs on the PATH", async (t) => {
  const readme = await readFile(join(dirname(dirname(OFS_BIN)), 'README.md'), 'utf8');
  const example = /```sh\n(export OFS_ZK=127\.0\.0\.1:2181\n[\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(example, 'README has the example');

  const cluster = await TestCluster.start({ masters: 1 });
  t.teardown(() => cluster.stop());
  const dir = await mkdtemp(join(tmpdir(), 'ofs-readme-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // ofs on the PATH as npm link puts it there: a symlink to bin/ofs.
  await mkdir(join(dir, 'bin'));
  await symlink(OFS_BIN, join(dir, 'bin', 'ofs'));
  await mkdir(join(dir, 'photos'));
  for (const name of ['a.jpg', 'b.jpg']) await writeFile(join(dir, 'photos', name), patternBytes(300_000, name.length));

  // The one change: the cluster's ZooKeeper and keys in place of the example's.
  const script = `set -euo pipefail\n${example!.replace('127.0.0.1:2181', cluster.zk).replace('/var/lib/ofs/keys', cluster.keys!)}`;
  const { stdout, stderr } = await run('bash', ['-c', script], { cwd: dir, env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` }, timeout: 60_000 });
  t.is(stderr, '');
  const lines = stdout.trim().split('\n');
  // tar's listing of what came back, then one replica count per chunk.
  t.deepEqual(lines.filter((l) => l.startsWith('photos/')).sort(), ['photos/', 'photos/a.jpg', 'photos/b.jpg']);
  const counts = lines.filter((l) => !l.startsWith('photos/'));
  t.true(counts.length >= 1);
  t.true(counts.every((c) => c === '3'), counts.join(' '));
});
