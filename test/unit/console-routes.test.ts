import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import type { ConsoleHost } from '../../src/console/host.js';
import { consoleRoutes } from '../../src/console/routes.js';
import { fsckView } from '../../src/console/views.js';
import { HttpEndpoint } from '../../src/http/http-endpoint.js';
import type { MessageType, ReplyOf } from '../../src/transport/protocol.js';
import { RpcClient } from '../../src/transport/rpc-client.js';
import type { MemberInfo } from '../../src/zk/members.js';

/** A master for the console without a cluster: its queries are recorded and answered from `answers`. */
function fakeHost(t: ExecutionContext, options: { active: boolean; masters: MemberInfo[]; answers?: Partial<Record<MessageType, unknown>> }) {
  const calls: MessageType[] = [];
  const rpc = new RpcClient('console-test');
  t.teardown(() => rpc.close());
  const host: ConsoleHost = {
    id: 'master-self',
    isActive: () => options.active,
    masters: () => options.masters,
    call: async (type) => {
      calls.push(type);
      return options.answers?.[type] as never;
    },
    rpc,
  };
  return { host, calls };
}

async function serve(t: ExecutionContext, host: ConsoleHost): Promise<(path: string) => Promise<Response>> {
  const log = pino({ level: 'silent' });
  const http = await HttpEndpoint.listen('127.0.0.1', 0, consoleRoutes(host, log), log);
  t.teardown(() => http.close());
  return (path) => fetch(`http://127.0.0.1:${http.port}${path}`, { redirect: 'manual' });
}

test("a standby sends pages and APIs to the active master's console, path and query kept", async (t) => {
  const { host, calls } = fakeHost(t, { active: false, masters: [{ id: 'master-a', address: 'tcp://h:1', http: 'http://10.0.0.5:8080' }, { id: 'master-self', address: 'tcp://h:2' }] });
  const get = await serve(t, host);
  for (const path of ['/console/files?path=/a%20b', '/api/list?path=/x&limit=5']) {
    const response = await get(path);
    t.is(response.status, 307, path);
    t.is(response.headers.get('location'), `http://10.0.0.5:8080${path}`);
  }
  const masters = (await (await get('/api/masters')).json()) as { serving: boolean; masters: unknown[] };
  t.deepEqual(masters, { self: 'master-self', serving: false, masters: [{ id: 'master-a', http: 'http://10.0.0.5:8080' }, { id: 'master-self' }] });
  t.deepEqual(calls, [], 'a standby asks itself nothing');
});

test('with no other active master known, or one whose address is not http, a request is refused with a reason', async (t) => {
  for (const masters of [[{ id: 'master-self', address: 'tcp://h:2' }], [{ id: 'master-a', address: 'tcp://h:1', http: 'javascript:alert(1)' }], []]) {
    const { host } = fakeHost(t, { active: false, masters });
    const get = await serve(t, host);
    const page = await get('/console/');
    t.is(page.status, 503);
    t.is(page.headers.get('refresh'), '2', 'a page tries again by itself');
    const api = await get('/api/summary');
    t.is(api.status, 503);
    t.is(((await api.json()) as { error: { code: string } }).error.code, 'ENOTACTIVE');
  }
});

test('bad queries are refused with the parameter named, before the master is asked anything', async (t) => {
  const { host, calls } = fakeHost(t, { active: true, masters: [] });
  const get = await serve(t, host);
  const refused = async (path: string, status: number, message: RegExp) => {
    const response = await get(path);
    t.is(response.status, status, path);
    t.regex(((await response.json()) as { error: { message: string } }).error.message, message, path);
  };
  await refused('/api/bytes?path=/f&length=65537', 400, /length: Too big/);
  await refused('/api/bytes?path=/f&offset=-1', 400, /offset: Too small/);
  await refused('/api/bytes?path=/f&length=ten', 400, /length: .*number/);
  await refused('/api/list?path=/d&limit=1001', 400, /limit: Too big/);
  await refused('/api/file', 400, /path: /);
  await refused('/api/fsck?path=/&verbose=1', 400, /Unrecognized key: "verbose"/);
  await refused('/api/nothing', 404, /no such console API: \/api\/nothing/);
  t.deepEqual(calls, []);
  t.is((await get('/console/nowhere')).status, 404);
});

test('the active master serves the shell under a strict CSP, and the browser code without source-map links', async (t) => {
  const { host } = fakeHost(t, { active: true, masters: [] });
  const get = await serve(t, host);
  const shell = await get('/console/fsck?path=/');
  t.is(shell.status, 200);
  t.regex(shell.headers.get('content-security-policy')!, /default-src 'self'/);
  t.regex(await shell.text(), /<script type="module" src="\/console\/js\/main.js">/);
  const main = await get('/console/js/main.js');
  t.is(main.headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.notRegex(await main.text(), /sourceMappingURL/);
  t.is((await get('/')).headers.get('location'), '/console/');
});

test('the fsck view keeps the troubled chunks, up to its cap, and counts the rest', (t) => {
  const chunk = (index: number, status: 'healthy' | 'under-replicated' | 'missing', stale: { id: string; version: number }[] = []) => ({
    index, chunkId: `000000000000000${index}`, version: 2, live: status === 'missing' ? [] : ['a'], stale, corrupt: [], status,
  });
  const report: ReplyOf<'master.fsck'> = {
    files: [{ path: '/f', size: 10, chunks: [chunk(0, 'healthy'), chunk(1, 'under-replicated'), chunk(2, 'healthy', [{ id: 'b', version: 1 }]), chunk(3, 'missing')] }],
    unlisted: 7,
    summary: { files: 1, chunks: 4, healthy: 2, underReplicated: 1, missing: 1, stale: 1, corrupt: 0 },
    replication: 3,
  };
  const view = fsckView('/', report, 2);
  t.deepEqual(view.problems.map((p) => [p.path, p.index]), [['/f', 1], ['/f', 2]]);
  t.is(view.more, 1);
  t.is(view.unlisted, 7, 'the files the answer left out are counted');
  t.deepEqual(view.summary, report.summary);
});
