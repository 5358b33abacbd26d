import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { OfsClient } from '../../src/client/ofs-client.js';
import { spawnWithoutInheritedSockets as spawn } from '../../src/cluster/child-process.js';
import { TestCluster } from '../helpers/cluster.js';

let cluster: TestCluster;
let client: OfsClient;

test.before(async () => {
  cluster = await TestCluster.start({ masters: 1 });
  client = await cluster.client();
});

test.after.always(async () => {
  await client?.close();
  await cluster?.stop();
});

const names = async (path: string) => (await client.list(path)).map((e) => `${e.name}:${e.type}`);

test('mkdir, mkdir -p, ls, rm, rm -r, mv through the client', async (t) => {
  await client.mkdir('/ns');
  await client.mkdir('/ns/a/b/c', { parents: true });
  await client.mkdir('/ns/a/b/c', { parents: true }); // -p on an existing dir is fine
  await client.write('/ns/a/file', 'hello');
  t.deepEqual(await names('/ns/a'), ['b:dir', 'file:file']);
  t.deepEqual(await names('/ns/a/file'), ['file:file']);

  await client.rename('/ns/a/file', '/ns/a/b/moved');
  t.deepEqual(await names('/ns/a/b'), ['c:dir', 'moved:file']);
  t.is((await client.read('/ns/a/b/moved')).toString(), 'hello');

  await client.rename('/ns/a/b', '/ns/b2');
  t.deepEqual(await names('/ns/b2'), ['c:dir', 'moved:file']);

  await t.throwsAsync(client.delete('/ns/b2'), { message: /non-empty directory/ });
  await client.delete('/ns/b2', { recursive: true });
  await client.delete('/ns/a/b', { recursive: true }).catch(() => undefined);
  t.deepEqual(await names('/ns'), ['a:dir']);
});

test('a directory is listed a page at a time: after and limit through the API, every entry once through entries() and ofs ls', async (t) => {
  const created = Array.from({ length: 23 }, (_, i) => `e${String(i).padStart(2, '0')}`);
  await client.mkdir('/paged');
  await Promise.all(created.map((name) => client.write(`/paged/${name}`, name)));
  const page = await client.list('/paged', { after: 'e04', limit: 5 });
  t.deepEqual(page.map((e) => e.name), ['e05', 'e06', 'e07', 'e08', 'e09']);
  t.deepEqual((await client.list('/paged', { after: 'e22', limit: 5 })).map((e) => e.name), []);
  t.deepEqual((await client.list('/paged', { after: 'd', limit: 1 })).map((e) => e.name), ['e00'], 'after need not name an entry');
  const streamed: string[] = [];
  for await (const entry of client.entries('/paged', { pageSize: 4 })) streamed.push(entry.name);
  t.deepEqual(streamed, created, 'six pages of four, each entry once, in name order');
  t.deepEqual((await client.list('/paged')).map((e) => e.name), created);
  await t.throwsAsync(client.list('/paged', { limit: 0 }), { message: /limit/ });
  await t.throwsAsync(client.list('/paged', { limit: 10_001 }), { message: /limit/ });

  const ls = await cluster.ofs(['ls', '--json', '/paged']);
  t.is(ls.code, 0, ls.stderr);
  t.deepEqual((JSON.parse(ls.stdout.toString()) as { name: string }[]).map((e) => e.name), created);
  const text = await cluster.ofs(['ls', '/paged']);
  t.is(text.stdout.toString().trim().split('\n').length, created.length);
  const empty = await cluster.ofs(['ls', '--json', '/paged/e00']);
  t.deepEqual(JSON.parse(empty.stdout.toString()).map((e: { name: string }) => e.name), ['e00'], 'a file lists as itself');
});

test('errors name the problem and change nothing', async (t) => {
  await client.mkdir('/err', { parents: true });
  await client.write('/err/f', 'x');
  await client.write('/err/g', 'y');
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['missing file read', () => client.read('/err/missing'), /\/err\/missing does not exist/],
    ['missing rm', () => client.delete('/err/missing'), /does not exist/],
    ['mv onto existing', () => client.rename('/err/f', '/err/g'), /\/err\/g already exists/],
    ['mv missing', () => client.rename('/err/none', '/err/h'), /\/err\/none does not exist/],
    ['mv into itself', () => client.rename('/err', '/err/sub'), /into itself/],
    ['mkdir existing', () => client.mkdir('/err/f'), /already exists/],
    ['mkdir without parent', () => client.mkdir('/err/x/y'), /parent directory \/err\/x does not exist/],
    ['file as directory', () => client.write('/err/f/child', 'z'), /\/err\/f is a file/],
    ['dotdot', () => client.write('/err/../etc', 'z'), /'\.' and '\.\.' are not allowed/],
    ['relative', () => client.mkdir('err2'), /must be absolute/],
    ['NUL', () => client.write('/err/a\0b', 'z'), /NUL/],
    ['empty', () => client.list(''), /empty/],
    ['double slash', () => client.list('/err//f'), /empty component/],
    ['rm /', () => client.delete('/', { recursive: true }), /refusing to delete \//],
  ];
  for (const [name, run, message] of cases) {
    await t.throwsAsync(run(), { message }, name);
  }
  // Nothing above changed the namespace.
  t.deepEqual(await names('/err'), ['f:file', 'g:file']);
  t.is((await client.read('/err/f')).toString(), 'x');
});

test('the CLI prints errors on stderr and exits non-zero', async (t) => {
  await cluster.ofs(['mkdir', '-p', '/cli/d']);
  const put = await cluster.ofs(['put', '-', '/cli/d/f'], Buffer.from('data'));
  t.is(put.code, 0, put.stderr);

  const ls = await cluster.ofs(['ls', '/cli/d']);
  t.is(ls.code, 0);
  t.regex(ls.stdout.toString(), /^-rw-r--r-- client supergroup +4 .* f$/m);

  const missing = await cluster.ofs(['cat', '/cli/nope']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^ofs cat: \/cli\/nope does not exist \(ENOENT\)$/m);
  t.is(missing.stdout.length, 0);

  const exists = await cluster.ofs(['mv', '/cli/d/f', '/cli/d']);
  t.is(exists.code, 1);
  t.regex(exists.stderr, /already exists \(EEXIST\)/);

  const bad = await cluster.ofs(['ls', '/cli/../x']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /invalid path .*'\.' and '\.\.' are not allowed \(EINVAL\)/);

  const relative = await cluster.ofs(['mkdir', 'rel']);
  t.is(relative.code, 2);
  t.regex(relative.stderr, /must be absolute/);

  const notEmpty = await cluster.ofs(['rm', '/cli/d']);
  t.is(notEmpty.code, 1);
  t.regex(notEmpty.stderr, /rm -r/);
  t.is((await cluster.ofs(['rm', '-r', '/cli/d'])).code, 0);
  t.is((await cluster.ofs(['ls', '/cli'])).stdout.toString(), '');

  const usage = await cluster.ofs(['mv', '/only-one']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /missing required argument/);
});

test('a closed client refuses every call with ECLOSED, opens no connection, and its process exits by itself', async (t) => {
  const clientModule = fileURLToPath(new URL('../../src/client/ofs-client.js', import.meta.url));
  const script = `
    const { OfsClient } = await import(${JSON.stringify(clientModule)});
    const c = await OfsClient.connect({ zk: ${JSON.stringify(cluster.zk)}, keys: ${JSON.stringify(cluster.keys)} });
    await c.write('/closed/f', 'x');
    await c.close();
    for (const call of [() => c.status(), () => c.write('/closed/g', 'y'), () => c.read('/closed/f')]) {
      console.log(await call().then(() => 'answered', (err) => err.code));
    }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(killer);
  t.is(signal, null, 'the process had to be killed: something kept it alive after close()');
  t.is(code, 0);
  t.deepEqual(output.trim().split('\n'), ['ECLOSED', 'ECLOSED', 'ECLOSED']);
});
