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

/** The one-line sh block of the README that starts with `prefix`. */
function readmeLine(readme: string, prefix: string): string {
  const line = readme.split('\n').find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`README has no line starting with ${prefix}`);
  return line;
}

test("npm run demo starts a cluster and shows it working; the README's console and metrics commands work on it; the stop command it prints stops it", async (t) => {
  const root = dirname(dirname(OFS_BIN));
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const dir = await mkdtemp(join(tmpdir(), 'ofs-demo-'));
  const down = () => run('node', [OFS_BIN, 'cluster', 'down', '--dir', dir], { timeout: 60_000 });
  t.teardown(async () => {
    await down().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  // What `npm run demo` runs, in a directory of the test's own, from the tree the tests were built from.
  const demo = await run('bash', [join(root, 'scripts', 'demo.sh')], { env: { ...process.env, OFS_DEMO_DIR: dir, OFS_DEMO_SKIP_SETUP: '1' }, timeout: 180_000 });
  t.regex(demo.stdout, /identical: the bytes read back are the bytes written/);
  t.regex(demo.stdout, /^hello, OFS$/m);
  t.regex(demo.stdout, new RegExp(`Stop it with: +node bin/ofs cluster down --dir ${dir}`));

  // The web console: one URL per master, as the README prints them; the active one serves the page, a standby sends it on.
  const consoleUrls = (await run('bash', ['-c', readmeLine(readme, 'jq -r \'.processes[] | select(.role == "master")').replace('/tmp/ofs-demo', dir)])).stdout.trim().split('\n');
  t.is(consoleUrls.length, 2);
  for (const url of consoleUrls) {
    const page = await fetch(url);
    t.is(page.status, 200, url);
    t.regex(await page.text(), /<html/i, url);
  }
  // Metrics: every master and chunkserver by id and port, each serving ofs_ metrics.
  const ports = (await run('bash', ['-c', readmeLine(readme, "jq -r '.processes[] | select(.httpPort)").replace('DIR', dir)])).stdout.trim().split('\n');
  t.is(ports.length, 5, ports.join('; '));
  for (const line of ports) {
    const [id, port] = line.split(' ');
    const scraped = await run('bash', ['-c', readmeLine(readme, 'curl -s http://127.0.0.1:PORT/metrics').replace('PORT', port!)]);
    t.regex(scraped.stdout, /^ofs_rpc_request_duration_seconds_count\{/m, `${id} serves ofs_ metrics`);
  }

  await down();
  const alive = JSON.parse(await readFile(join(dir, 'cluster.json'), 'utf8')).processes.filter((p: { pid: number }) => {
    try {
      process.kill(p.pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  t.deepEqual(alive, [], 'the stop command stopped every process');
});
