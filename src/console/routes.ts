import type { ServerResponse } from 'node:http';
import { OfsError } from '../core/errors.js';
import type { Route } from '../http/http-endpoint.js';
import type { Logger } from '../util/logger.js';
import { consoleApi, sendError, sendJson } from './api.js';
import { CONTENT_SECURITY_POLICY, loadAssets, SHELL_HTML } from './assets.js';
import { placement, type ConsoleHost } from './host.js';

/** The console's pages; each is the same shell, which the browser code fills in. */
export const CONSOLE_PAGES = ['/console/', '/console/files', '/console/file', '/console/fsck'];

/**
 * The web console's routes, mounted on a master's HTTP endpoint: `/` and
 * the pages under `/console/`, the static browser code, and the JSON APIs
 * under `/api/`. A standby (or a master not yet serving) sends every page
 * and API request to the active master's console, keeping path and query.
 */
export function consoleRoutes(host: ConsoleHost, log: Logger): Route[] {
  const assets = loadAssets();
  const api = consoleApi(host, log);

  /** True when this master answers; otherwise the response is already a redirect, or a 503 (a page's tells the browser to refresh in 2 s). */
  const servedHere = (url: URL, response: ServerResponse, page: boolean): boolean => {
    const where = placement(host);
    if (where.serve) return true;
    if ('redirect' in where) {
      response.writeHead(307, { location: `${where.redirect}${url.pathname}${url.search}`, 'content-type': 'text/plain; charset=utf-8' });
      response.end(`the active master's console is at ${where.redirect}\n`);
    } else if (page) {
      response.writeHead(503, { refresh: '2', 'content-type': 'text/plain; charset=utf-8' });
      response.end(`${where.unavailable}\n`);
    } else {
      response.setHeader('retry-after', '2');
      sendError(response, new OfsError('ENOTACTIVE', where.unavailable));
    }
    return false;
  };

  return [
    {
      method: 'GET',
      path: '/',
      handle(_request, response) {
        response.writeHead(302, { location: '/console/' });
        response.end();
      },
    },
    {
      // Browsers ask every origin for one; "none" rather than a 404 they would log as an error.
      method: 'GET',
      path: '/favicon.ico',
      handle(_request, response) {
        response.writeHead(204);
        response.end();
      },
    },
    {
      method: 'GET',
      path: '/console/*',
      handle(_request, response, url) {
        const asset = assets.get(url.pathname);
        if (asset) {
          response.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
          response.end(asset.body);
          return;
        }
        if (!CONSOLE_PAGES.includes(url.pathname)) {
          response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
          response.end(`no such console page: ${url.pathname}\n`);
          return;
        }
        if (!servedHere(url, response, true)) return;
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CONTENT_SECURITY_POLICY, 'cache-control': 'no-store' });
        response.end(SHELL_HTML);
      },
    },
    {
      method: 'GET',
      path: '/api/*',
      async handle(_request, response, url) {
        const name = url.pathname.slice('/api/'.length);
        try {
          if (name === 'masters') return await api.masters(url, response);
          const handler = api.served.get(name);
          if (!handler) return sendJson(response, 404, { error: { code: 'ENOENT', message: `no such console API: ${url.pathname}` } });
          if (servedHere(url, response, false)) await handler(url, response);
        } catch (err) {
          if (!response.headersSent) sendError(response, err);
          else response.end();
        }
      },
    },
  ];
}
