import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { OFS_BIN } from '../helpers/cluster.js';

const run = promisify(execFile);
const ROOT = dirname(dirname(OFS_BIN));
const NPM = { timeout: 150_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } };

/** A scratch directory, gone when the test ends. */
async function scratch(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ofs-package-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('npm pack, installed into a project: import from ofs gives OfsClient, OfsError and the actor client; node_modules/.bin/ofs runs', async (t) => {
  const dir = await scratch(t);
  const packed = await run('npm', ['pack', '--silent', '--pack-destination', dir], { ...NPM, cwd: ROOT });
  const tarball = join(dir, packed.stdout.trim().split('\n').at(-1)!);
  const project = join(dir, 'app');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // The dependencies come from the registry, or npm's cache when it has them.
  await run('npm', ['install', '--prefer-offline', tarball], { ...NPM, cwd: project });

  const probe = `import('ofs').then((m) => {
    const err = new m.OfsError('ENOENT', '/x: no such file');
    console.log(JSON.stringify({ connect: typeof m.OfsClient.connect, error: err instanceof Error && err.code, spawnOfsClient: typeof m.spawnOfsClient, read: typeof m.ofsQuery.read }));
  })`;
  const imported = await run(process.execPath, ['-e', probe], { cwd: project });
  t.deepEqual(JSON.parse(imported.stdout), { connect: 'function', error: 'ENOENT', spawnOfsClient: 'function', read: 'function' });
  t.true((await stat(join(project, 'node_modules', 'ofs', 'dist', 'src', 'index.d.ts'))).isFile(), 'the types that package.json names');

  const help = await run(join(project, 'node_modules', '.bin', 'ofs'), ['--help'], { cwd: project });
  t.regex(help.stdout, /^Usage: ofs /m);
  t.regex(help.stdout, /^ {2}put \[options\] <local> <path>/m);
});

test('npm install -g of the repository puts ofs on the PATH; it finds its code through the symlinks', async (t) => {
  const prefix = await scratch(t);
  // --prefix: a global install of its own, not the machine's.
  await run('npm', ['install', '--global', '--prefix', prefix, ROOT], { ...NPM, cwd: prefix });
  const elsewhere = await scratch(t);
  const { OFS_ZK: _, ...env } = process.env;
  const onPath = { cwd: elsewhere, env: { ...env, PATH: `${join(prefix, 'bin')}:${env.PATH}` } };
  const version = await run('ofs', ['--version'], onPath);
  t.is(version.stdout.trim(), '0.1.0');
  // A client verb runs as far as it can without a cluster.
  const ls = await run('ofs', ['ls', '/'], onPath).then(() => undefined, (err: { code: number; stderr: string }) => err);
  t.is(ls?.code, 2);
  t.regex(ls?.stderr ?? '', /^ofs ls: no ZooKeeper address: pass --zk HOST:PORT or set OFS_ZK \(EINVAL\)$/m);
});
