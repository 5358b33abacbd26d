import test from 'ava';
import { pino } from 'pino';
import { HttpEndpoint, type Route } from '../../src/http/http-endpoint.js';
import { createRegistry, metricsRoute } from '../../src/metrics/registry.js';

const text = (body: string): Route['handle'] => (_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end(body);
};

async function endpoint(t: import('ava').ExecutionContext, routes: Route[]): Promise<string> {
  const http = await HttpEndpoint.listen('127.0.0.1', 0, routes, pino({ level: 'silent' }));
  t.teardown(() => http.close());
  t.true(http.port > 0, 'port 0 takes a free port and says which');
  return `http://127.0.0.1:${http.port}`;
}

test('routes by exact path or by prefix, and says 404 or 405 otherwise', async (t) => {
  const base = await endpoint(t, [
    { method: 'GET', path: '/one', handle: text('one') },
    { method: 'GET', path: '/files/*', handle: (_q, response, url) => text(`file ${url.pathname} ${url.searchParams.get('x')}`)(_q, response, url) },
  ]);
  const get = async (path: string, init?: RequestInit) => {
    const response = await fetch(`${base}${path}`, init);
    return { status: response.status, body: await response.text(), allow: response.headers.get('allow') };
  };
  t.deepEqual(await get('/one'), { status: 200, body: 'one', allow: null });
  t.is((await get('/one/more')).status, 404, 'an exact path takes nothing below it');
  t.deepEqual(await get('/files/a/b?x=1'), { status: 200, body: 'file /files/a/b 1', allow: null });
  t.is((await get('/files')).status, 200, 'a prefix route takes its own root too');
  t.is((await get('/filesystem')).status, 404, 'a prefix ends at a path segment');
  t.deepEqual(await get('/one', { method: 'POST' }), { status: 405, body: 'POST not allowed on /one\n', allow: 'GET' });
  t.is((await get('/')).status, 404);
});

test('a handler that throws answers 500, and the endpoint goes on serving', async (t) => {
  const base = await endpoint(t, [
    { method: 'GET', path: '/bad', handle: () => Promise.reject(new Error('boom')) },
    { method: 'GET', path: '/good', handle: text('fine') },
  ]);
  t.is((await fetch(`${base}/bad`)).status, 500);
  t.is(await (await fetch(`${base}/good`)).text(), 'fine');
});

test('/metrics serves its registry in the Prometheus text format, with the process metrics', async (t) => {
  const base = await endpoint(t, [metricsRoute(createRegistry())]);
  const response = await fetch(`${base}/metrics`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  t.regex(await response.text(), /^process_cpu_user_seconds_total \d/m);
});
